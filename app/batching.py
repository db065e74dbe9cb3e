"""Micro-batching of concurrent query embeds: request threads hand in photos, one worker thread embeds
the photos waiting at that moment in one forward pass and hands each caller its row.

Wait policy: the worker never waits for company it has no reason to expect. It takes the oldest waiting
photo and everything queued behind it (up to `max_batch`); it waits for more only while fewer are queued
than the largest of the last few batches, and never past `max_wait_ms` after the oldest one arrived. At one
client every batch holds one photo, so nothing ever waits (the added latency is one thread hand-off). Under
load the photos that arrived during the previous forward pass are already queued, and the short wait only
collects the stragglers of a group of clients that were answered together; it ends as soon as the group
is complete rather than at the deadline.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from models.embedder import Embedder, PreparedEmbedder

RECENT_BATCHES = 4  # how many past batch sizes set the size worth waiting for


class BatcherClosed(RuntimeError):
    """The batcher was stopped (service shutdown): no more embeds."""


@dataclass
class _Request:
    input: np.ndarray  # one image (H, W, 3) uint8, or one prepared network input (S, S, 3) float32
    arrived: float  # time.monotonic() seconds
    future: Future = field(default_factory=Future)


class EmbedBatcher:
    """An Embedder (same `info`, thread-safe `embed`) that shares forward passes between callers.

    embedder: the real embedder. If it is a PreparedEmbedder, photos are resized in the caller's thread
    and photos of any size share a forward pass; otherwise only photos of the same shape do.
    max_batch: most photos per forward pass. max_wait_ms: longest wait for company (see the module doc).
    observe_batch: called with the size of every forward pass (e.g. a Prometheus histogram's observe).
    """

    def __init__(self, embedder: Embedder, max_batch: int = 16, max_wait_ms: float = 2.0,
                 observe_batch: Callable[[int], None] | None = None) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError("max_batch must be at least 1 and max_wait_ms at least 0")
        self.embedder, self.info = embedder, embedder.info
        self.max_batch, self.max_wait_s = max_batch, max_wait_ms / 1000
        self._observe = observe_batch or (lambda size: None)
        self._prepared = isinstance(embedder, PreparedEmbedder)
        self._pending: deque[_Request] = deque()
        self._recent = deque([1], maxlen=RECENT_BATCHES)
        self._ready = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="embed-batcher", daemon=True)
        self._worker.start()

    def embed(self, images: np.ndarray) -> np.ndarray:
        """images: (n, H, W, 3) uint8 RGB, any H, W. Returns (n, info.dim) float32, rows L2-normalised.
        Blocks until the worker has embedded them; raises what the forward pass raised."""
        inputs = self.embedder.prepare(images) if self._prepared else np.asarray(images)
        requests = [_Request(x, time.monotonic()) for x in inputs]
        with self._ready:
            if self._closed:
                raise BatcherClosed("the embed batcher is stopped")
            self._pending.extend(requests)
            self._ready.notify()
        if not requests:
            return np.zeros((0, self.info.dim), np.float32)
        return np.stack([request.future.result() for request in requests])

    @property
    def queued(self) -> int:
        """Photos waiting for a forward pass."""
        with self._ready:
            return len(self._pending)

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop taking photos, embed those already waiting, and end the worker thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._worker.join(timeout_s)

    def _run(self) -> None:
        try:
            while batch := self._gather():
                try:
                    self._embed_batch(batch)
                except BaseException as error:  # a bug here must not leave callers waiting
                    _fail(batch, error)
        finally:
            with self._ready:
                self._closed = True
                left, self._pending = list(self._pending), deque()
            _fail(left, BatcherClosed("the embed batcher stopped"))

    def _gather(self) -> list[_Request]:
        """The next batch, oldest first; empty once closed and drained."""
        with self._ready:
            while not self._pending and not self._closed:
                self._ready.wait()
            if not self._pending:
                return []
            wanted = min(self.max_batch, max(self._recent))
            deadline = self._pending[0].arrived + self.max_wait_s
            while len(self._pending) < wanted and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
            batch = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
        self._recent.append(len(batch))
        return batch

    def _embed_batch(self, batch: list[_Request]) -> None:
        """One forward pass per input shape (a single one for a PreparedEmbedder)."""
        groups: dict[tuple[int, ...], list[_Request]] = {}
        for request in batch:
            groups.setdefault(request.input.shape, []).append(request)
        for group in groups.values():
            self._observe(len(group))
            try:
                vectors = self._forward(np.stack([request.input for request in group]))
                if len(vectors) != len(group):
                    raise RuntimeError(f"embedder returned {len(vectors)} rows for {len(group)} images")
            except BaseException as error:
                _fail(group, error)
                continue
            for request, vector in zip(group, vectors):
                request.future.set_result(vector)

    def _forward(self, inputs: np.ndarray) -> np.ndarray:
        if self._prepared:
            return self.embedder.embed_prepared(inputs)
        return self.embedder.embed(inputs)


def _fail(requests: list[_Request], error: BaseException) -> None:
    for request in requests:
        if not request.future.done():
            request.future.set_exception(error)
