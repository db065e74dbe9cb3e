"""Parallel rendering of many CAD files in spawned worker processes, one OSMesa renderer per worker.

This module must stay importable next to TensorFlow: it loads pyrender (render.renderer) only inside
the workers or, for workers=0, on first use.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing as mp
import os
import queue
import signal
import sys
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from render.mesh import load_scene

WORKER_NAME = "photo2cad-render-worker"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_POLL_SECONDS = 0.5  # how often a waiting parent checks for crashed workers


@dataclass
class RenderJob:
    """One CAD file to render. rotation: 3x3 nested list or None; size: (w, h, d) or None;
    cameras: (n, 3) unit vectors; size_px: square image side; lighting_seed: None for the default
    lighting, else each view gets its own seeded random lighting (render.renderer.Lighting.random);
    material_seed: None keeps the model's materials, else its parts get seeded random colours
    (render.materials.randomise_materials), the same in every view of the job."""

    key: str
    path: str
    rotation: list | None
    size: list | None
    cameras: np.ndarray
    size_px: int
    lighting_seed: int | None = None
    material_seed: int | None = None


@dataclass
class RenderResult:
    """images: (n, size_px, size_px, 4) uint8 RGBA, or None with a one-line `error`."""

    key: str
    images: np.ndarray | None
    error: str | None


def render_jobs(jobs: Iterable[RenderJob], workers: int) -> Iterator[RenderResult]:
    """Render jobs, yielding one result per job in completion order (not input order).

    workers=0 renders in this process (it must not have TensorFlow loaded). With workers >= 1 at most
    `workers` jobs are in flight, so memory stays bounded however long `jobs` is. Errors of one job
    (bad file, renderer failure, crashed worker) become its `error` string. Closing the generator or
    Ctrl-C terminates the workers.
    """
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if workers == 0:
        return _render_in_process(jobs)
    return _render_in_workers(jobs, workers)


def _render_in_process(jobs: Iterable[RenderJob]) -> Iterator[RenderResult]:
    renderers = _RendererCache()
    try:
        for job in jobs:
            yield renderers.render(job)
    finally:
        renderers.close()


class _RendererCache:
    """Keeps one Renderer alive across jobs; replaced only when the image size changes."""

    def __init__(self) -> None:
        self._renderer: Any = None

    def render(self, job: RenderJob) -> RenderResult:
        try:
            renderer = self._get(job.size_px)  # first: it sets up PyOpenGL's OSMesa platform
            scene = load_scene(Path(job.path), job.rotation, None if job.size is None else tuple(job.size))
            if job.material_seed is not None:
                from render.materials import randomise_materials

                scene = randomise_materials(scene, np.random.default_rng(job.material_seed))
            images = renderer.render(scene, np.asarray(job.cameras), _lightings(job))
            return RenderResult(job.key, images, None)
        except Exception as exc:  # any failure is this job's result, never the whole run's
            return RenderResult(job.key, None, f"{type(exc).__name__}: {exc}")

    def _get(self, size_px: int) -> Any:
        from render.renderer import Renderer  # pyrender must not be loaded in a TensorFlow parent

        if self._renderer is None or self._renderer.size_px != size_px:
            self.close()
            self._renderer = Renderer(size_px)
        return self._renderer

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def _lightings(job: RenderJob) -> list | None:
    """Per-view random lighting for a seeded job (only called in a renderer process)."""
    if job.lighting_seed is None:
        return None
    from render.renderer import Lighting

    rng = np.random.default_rng(job.lighting_seed)
    return [Lighting.random(rng) for _ in range(len(job.cameras))]


def _worker_main(inbox: Any, outbox: Any, slot: int) -> None:
    """Worker loop: render jobs from `inbox` until None, answering (slot, result) on `outbox`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and terminates workers
    _exit_with_parent()
    renderers = _RendererCache()
    while (job := inbox.get()) is not None:
        outbox.put((slot, renderers.render(job)))
    renderers.close()


def _exit_with_parent() -> None:
    """Ask Linux to SIGTERM this worker when its parent dies (e.g. kill -9 of an indexing run), so no
    orphaned renderer keeps running; elsewhere the parent's normal shutdown path still stops it."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        parent = mp.parent_process()
        if parent is not None and os.getppid() != parent.pid:  # it died before prctl took effect
            os._exit(1)


@contextlib.contextmanager
def _plain_main() -> Iterator[None]:
    """Hide the parent's __main__ while spawning: spawn re-imports it in the child, and a main
    script that imports TensorFlow would bring TensorFlow into the renderer process."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class _Worker:
    """A spawned worker process with its own inbox and the job it is rendering, if any."""

    def __init__(self, context: Any, outbox: Any, slot: int) -> None:
        self.inbox = context.SimpleQueue()
        self.process = context.Process(
            target=_worker_main, args=(self.inbox, outbox, slot), name=f"{WORKER_NAME}-{slot}", daemon=True
        )
        with _plain_main():
            self.process.start()
        self.job: RenderJob | None = None

    def assign(self, job: RenderJob) -> None:
        self.job = job
        with contextlib.suppress(OSError):  # a dead worker is reported by crashed() instead
            self.inbox.put(job)

    def crashed(self) -> bool:
        return self.job is not None and self.process.exitcode is not None

    def stop(self) -> None:
        """Ask an idle worker to exit; kill a busy one (its render would be thrown away anyway)."""
        if self.process.exitcode is None:
            if self.job is None:
                with contextlib.suppress(OSError):
                    self.inbox.put(None)
                self.process.join(timeout=2.0)
            if self.process.exitcode is None:
                self.process.terminate()
        self.process.join()
        self.inbox.close()


def _render_in_workers(jobs: Iterable[RenderJob], workers: int) -> Iterator[RenderResult]:
    context = mp.get_context("spawn")
    outbox = context.Queue()
    pool = [_Worker(context, outbox, slot) for slot in range(workers)]
    pending = iter(jobs)
    try:
        for worker in pool:
            _assign_next(worker, pending)
        while any(worker.job is not None for worker in pool):
            slot, result = _next_result(pool, outbox, context)
            yield result
            _assign_next(pool[slot], pending)
    finally:
        for worker in pool:
            worker.stop()
        outbox.cancel_join_thread()  # results still queued are unwanted; do not block on them
        outbox.close()


def _assign_next(worker: _Worker, pending: Iterator[RenderJob]) -> None:
    job = next(pending, None)
    if job is not None:
        worker.assign(job)


def _next_result(pool: list[_Worker], outbox: Any, context: Any) -> tuple[int, RenderResult]:
    """Wait for the next finished job; a crashed worker yields an error result and is replaced."""
    while True:
        try:
            slot, result = outbox.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            for slot, worker in enumerate(pool):
                if worker.crashed():
                    job, code = worker.job, worker.process.exitcode
                    worker.stop()
                    pool[slot] = _Worker(context, outbox, slot)
                    return slot, RenderResult(job.key, None, f"worker process died (exit code {code})")
            continue
        pool[slot].job = None
        return slot, result
