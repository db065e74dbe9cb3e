"""Pose refinement beyond the view grid: render the retrieved model around the estimate, keep the best.

Render-and-compare, coarse to fine: each round renders the model from the current camera and a ring of
cameras `radius` degrees around it, embeds the renders and moves to the one most similar to the query.
The cost is fixed (rounds x (ring + 1) renders and embeddings per query), so the time is bounded.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Iterator

import numpy as np

from index.search import ModelMatch, Searcher
from index.store import ModelRecord
from render.backgrounds import composite
from render.cameras import angular_error_deg, camera_to_angles
from render.pool import RenderJob, RenderResult, render_jobs

WHITE = (255, 255, 255)


def ring_cameras(center: np.ndarray, radius_deg: float, count: int = 6) -> np.ndarray:
    """center (3,) and `count` cameras at `radius_deg` from it, evenly spread around it.
    Returns (count + 1, 3) float64 unit rows, the centre first."""
    c = np.asarray(center, dtype=np.float64)
    c = c / np.linalg.norm(c)
    helper = np.array([0.0, 1.0, 0.0]) if abs(c[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(helper, c)
    u /= np.linalg.norm(u)
    v = np.cross(c, u)
    angles = 2 * np.pi * np.arange(count) / count
    r = np.radians(radius_deg)
    ring = np.cos(r) * c + np.sin(r) * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * v)
    return np.vstack([c, ring])


class RenderSession:
    """One spawned render worker kept alive between calls (render.pool fed one job at a time), so a
    query pays for loading its mesh and rendering, not for starting a process. close() when done."""

    def __init__(self) -> None:
        self._pending: deque[RenderJob] = deque()
        self._results: Iterator[RenderResult] | None = None

    def _feed(self) -> Iterator[RenderJob]:
        while self._pending:  # render() always queues a job before asking for its result
            yield self._pending.popleft()

    def render(self, job: RenderJob) -> RenderResult:
        self._pending.append(job)
        if self._results is None:
            self._results = render_jobs(self._feed(), workers=1)
        return next(self._results)

    def close(self) -> None:
        if self._results is not None:
            self._results.close()
            self._results = None


def refine_camera(session: RenderSession, searcher: Searcher, record: ModelRecord, query: np.ndarray,
                  camera: np.ndarray, radii_deg: tuple[float, ...] = (8.0, 4.0), ring: int = 6) -> np.ndarray:
    """The camera (3,) whose render of `record` best matches the query embedding (d,) float32,
    searched around `camera` (3,) one ring per radius. Falls back to `camera` if rendering fails."""
    best = np.asarray(camera, dtype=np.float64)
    size_px = searcher.collection.view_config.size_px
    extra = record.extra or {}
    for radius in radii_deg:
        cameras = ring_cameras(best, radius, ring)
        result = session.render(RenderJob(record.model_id, record.file_path, extra.get("rotation"),
                                          extra.get("size"), cameras, size_px))
        if result.error is not None:
            return best
        similarities = searcher.embed(composite(result.images, WHITE)) @ query
        best = cameras[int(np.argmax(similarities))]
    return best


class MatchRefiner:
    """Refines one match's pose for the service: one render worker (started on first use) kept alive
    between requests, used by one request at a time; close() at shutdown."""

    def __init__(self, radii_deg: tuple[float, ...] = (8.0, 4.0), ring: int = 6) -> None:
        self.radii_deg, self.ring = radii_deg, ring
        self._session = RenderSession()
        self._lock = threading.Lock()

    def refine(self, searcher: Searcher, match: ModelMatch, query: np.ndarray,
               true_camera: np.ndarray | None = None) -> ModelMatch:
        """match with its pose refined against the query's vector (d,) float32 (the photo's embedding);
        the expected error becomes at most the last ring radius (the resolution of the final step)."""
        with self._lock:
            camera = refine_camera(self._session, searcher, match.record, query, match.pose.camera,
                                   self.radii_deg, self.ring)
        polar, azimuth = camera_to_angles(camera[None])
        pose = dataclasses.replace(match.pose, camera=camera, polar_deg=float(polar[0]),
                                   azimuth_deg=float(azimuth[0]),
                                   expected_error_deg=min(match.pose.expected_error_deg, self.radii_deg[-1]))
        error = None if true_camera is None else float(angular_error_deg(true_camera, camera))
        return dataclasses.replace(match, pose=pose, angular_error_deg=error, refined=True)

    def close(self) -> None:
        with self._lock:
            self._session.close()
