"""Micro-batching of concurrent queries: request threads hand in work and block; one worker thread per
stage runs the work waiting at that moment in one call (one forward pass, one FAISS search).

Wait policy: a worker never waits for company it has no reason to expect. It takes the oldest waiting
item and everything queued behind it (up to `max_batch`); it waits for more only while fewer are queued
than the largest of the last few batches, and never past `max_wait_ms` after the oldest one arrived. At one
client every batch holds one item, so nothing ever waits; and while the batcher is idle and recent batches
held one item, a caller runs its own work in its own thread (no hand-off to the worker and back, which
costs two thread wake-ups: much more than the work's own overhead on a busy machine). Under
load the items that arrived during the previous call are already queued, and the short wait only collects
the stragglers of a group of clients that were answered together; it ends as soon as the group is
complete rather than at the deadline.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from index.vectors import VectorIndex
from models.embedder import Embedder, PreparedEmbedder

T = TypeVar("T")
R = TypeVar("R")
RECENT_BATCHES = 4  # how many past batch sizes set the size worth waiting for


class BatcherClosed(RuntimeError):
    """The batcher was stopped (service shutdown): no more work."""


@dataclass
class _Waiting(Generic[T]):
    item: T
    arrived: float  # time.monotonic() seconds
    future: Future = field(default_factory=Future)


class MicroBatcher(Generic[T, R]):
    """Runs `run(items) -> results` (one result per item, same order) on batches of submitted items in
    one worker thread. An exception raised by `run` reaches every caller of that batch."""

    def __init__(self, run: Callable[[list[T]], Sequence[R]], max_batch: int = 16, max_wait_ms: float = 2.0,
                 name: str = "micro-batcher") -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError("max_batch must be at least 1 and max_wait_ms at least 0")
        self.run, self.max_batch, self.max_wait_s = run, max_batch, max_wait_ms / 1000
        self._pending: deque[_Waiting[T]] = deque()
        self._recent = deque([1], maxlen=RECENT_BATCHES)
        self._ready = threading.Condition()
        self._closed = False
        self._busy = False  # a batch is running (in the worker, or in a caller's thread)
        self._worker = threading.Thread(target=self._serve, name=name, daemon=True)
        self._worker.start()

    def submit(self, items: Sequence[T]) -> list[R]:
        """Queue the items, block until the worker has run them; returns their results in order. When
        there is nothing to batch with (idle, nothing queued, recent batches of one), run them here."""
        waiting = [_Waiting(item, time.monotonic()) for item in items]
        with self._ready:
            if self._closed:
                raise BatcherClosed("the batcher is stopped")
            alone = not self._busy and not self._pending and max(self._recent) == 1
            if alone:
                self._busy = True
            else:
                self._pending.extend(waiting)
                self._ready.notify()
        if alone:
            return self._run_here(list(items))
        return [entry.future.result() for entry in waiting]

    def _run_here(self, items: list[T]) -> list[R]:
        try:
            results = list(self.run(items))
            if len(results) != len(items):
                raise RuntimeError(f"{len(results)} results for {len(items)} items")
            return results
        finally:
            self._finished(len(items))

    def _finished(self, size: int) -> None:
        """A batch of `size` items has run: the worker may start the next."""
        with self._ready:
            self._busy = False
            self._recent.append(size)
            self._ready.notify_all()

    @property
    def queued(self) -> int:
        """Items waiting for the worker."""
        with self._ready:
            return len(self._pending)

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop taking items, run those already waiting, and end the worker thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._worker.join(timeout_s)

    def _serve(self) -> None:
        try:
            while batch := self._gather():
                try:
                    results = self.run([entry.item for entry in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(f"{len(results)} results for {len(batch)} items")
                except BaseException as error:  # noqa: BLE001 - every caller sees it; the worker goes on
                    _fail(batch, error)
                    continue
                finally:
                    self._finished(len(batch))
                for entry, result in zip(batch, results):
                    entry.future.set_result(result)
        finally:  # even if the worker itself breaks, nobody waits forever
            with self._ready:
                self._closed = True
                left, self._pending = list(self._pending), deque()
            _fail(left, BatcherClosed("the batcher stopped"))

    def _gather(self) -> list[_Waiting[T]]:
        """The next batch, oldest first, once no other batch runs; empty once closed and drained."""
        with self._ready:
            while (not self._pending or self._busy) and not self._closed:
                self._ready.wait()
            wanted = min(self.max_batch, max(self._recent))
            deadline = self._pending[0].arrived + self.max_wait_s if self._pending else 0.0
            while 0 < len(self._pending) < wanted and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
            batch = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
            self._busy = bool(batch)
        return batch


def _fail(waiting: list[_Waiting], error: BaseException) -> None:
    for entry in waiting:
        if not entry.future.done():
            entry.future.set_exception(error)


def _groups(items: list[T], key: Callable[[T], Hashable]) -> list[list[int]]:
    """Positions of the items, grouped by key, groups in order of first appearance."""
    groups: dict[Hashable, list[int]] = {}
    for position, item in enumerate(items):
        groups.setdefault(key(item), []).append(position)
    return list(groups.values())


class EmbedBatcher:
    """An Embedder (same `info`, thread-safe `embed`) whose callers share forward passes.

    If `embedder` is a PreparedEmbedder, photos are resized in the caller's thread and photos of any size
    share a forward pass; otherwise one forward pass per photo shape. observe_batch: called with the size
    of every forward pass (e.g. a Prometheus histogram's observe).
    """

    def __init__(self, embedder: Embedder, max_batch: int = 16, max_wait_ms: float = 2.0,
                 observe_batch: Callable[[int], None] | None = None) -> None:
        self.embedder, self.info = embedder, embedder.info
        self._prepared = isinstance(embedder, PreparedEmbedder)
        self._observe = observe_batch or (lambda size: None)
        self.batcher = MicroBatcher(self._forward, max_batch, max_wait_ms, name="embed-batcher")

    def embed(self, images: np.ndarray) -> np.ndarray:
        """images: (n, H, W, 3) uint8 RGB, any H, W. Returns (n, info.dim) float32, rows L2-normalised."""
        inputs = self.embedder.prepare(images) if self._prepared else np.asarray(images)
        rows = self.batcher.submit(list(inputs))
        return np.stack(rows) if rows else np.zeros((0, self.info.dim), np.float32)

    def close(self) -> None:
        self.batcher.close()

    def _forward(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        rows: list[np.ndarray] = [np.empty(0)] * len(inputs)
        for group in _groups(inputs, lambda x: x.shape):
            self._observe(len(group))
            stacked = np.stack([inputs[i] for i in group])
            embed = self.embedder.embed_prepared if self._prepared else self.embedder.embed
            vectors = embed(stacked)
            for position, vector in zip(group, vectors, strict=True):
                rows[position] = vector
        return rows


class NeighbourBatcher:
    """Shares FAISS searches between callers (an index.search.NeighbourSearch): a flat index is read once
    per search call however many queries it holds, so one (q, d) search is far cheaper than q single ones.

    Queries wanting fewer neighbours than others in their batch get the first k of the batch's search,
    which on a flat index is exactly their own k nearest (on HNSW/IVF, a search at least as thorough).
    """

    def __init__(self, max_batch: int = 16, max_wait_ms: float = 2.0,
                 observe_batch: Callable[[int], None] | None = None) -> None:
        self._observe = observe_batch or (lambda size: None)
        self.batcher = MicroBatcher(self._search, max_batch, max_wait_ms, name="search-batcher")

    def search(self, vectors: VectorIndex, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """As vectors.search: queries (q, dim) float32 -> (similarities (q, k) float32, ids (q, k) int64)."""
        rows = self.batcher.submit([(vectors, query, k) for query in queries])
        if not rows:
            return vectors.search(queries, k)
        return np.stack([sims for sims, _ in rows]), np.stack([ids for _, ids in rows])

    def close(self) -> None:
        self.batcher.close()

    def _search(self, items: list[tuple[VectorIndex, np.ndarray, int]],
                ) -> list[tuple[np.ndarray, np.ndarray]]:
        rows: list[tuple[np.ndarray, np.ndarray]] = [(np.empty(0), np.empty(0))] * len(items)
        for group in _groups(items, lambda item: item[0]):  # by index: a reload makes a new one
            self._observe(len(group))
            vectors, queries = items[group[0]][0], np.stack([items[i][1] for i in group])
            sims, ids = vectors.search(queries, max(items[i][2] for i in group))
            for row, position in enumerate(group):
                k = items[position][2]
                rows[position] = (sims[row, :k], ids[row, :k])
        return rows
