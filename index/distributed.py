"""Rendering and embedding CAD models as Ray tasks, for `photo2cad index add/build --ray ADDRESS`.

A task renders one model in a spawn subprocess (render_jobs with workers=1: TensorFlow and OSMesa never
share a process) and embeds its views in the Ray worker, with an embedder rebuilt from its spec once per
worker process. The driver stores the results through index.build as they finish, so the index is the
one a local run makes. Ray is imported on first use, only here: the service never loads it.
Every Ray worker must import this project and read the weights file at the driver's path (same image
or install, and the same path or a shared volume on every node).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from index.views import EmbeddedViews, embed_views
from models.embedder import Embedder
from render.pool import RenderJob, render_jobs

if TYPE_CHECKING:
    from models.transfer import EmbedderSpec

RAY_REQUIREMENT = "ray==2.60.0"
MAX_IN_FLIGHT = 32  # results waiting in the object store: at 224 px x 162 views ~24 MB each
CONNECT_TIMEOUT_S = 5.0
_EMBEDDERS: dict[EmbedderSpec, Embedder] = {}  # per Ray worker process: built by its first task


class DistributedError(ValueError):
    """Ray is not installed or not reachable, the embedder cannot be rebuilt remotely, or a task failed."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise DistributedError(f"--ray needs Ray, which is not installed: pip install {RAY_REQUIREMENT}"
                               ) from None
    return ray


@contextlib.contextmanager
def ray_connection(address: str) -> Iterator[None]:
    """Connect to Ray for the `with` block. address: anything `ray.init(address=...)` takes: "auto" (the
    cluster started on this machine with `ray start`), "HOST:PORT", "ray://HOST:10001" (Ray Client) or
    "local" (start a private Ray on this machine, stopped at the end). A connection this process already
    has (e.g. a test's) is used as it is and left open."""
    ray = _import_ray()
    if ray.is_initialized():
        yield
        return
    _check_reachable(address)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError... all mean "no cluster there"
        raise DistributedError(f"cannot connect to Ray at {address}: {_one_line(exc)}") from None
    try:
        yield
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail fast on a HOST:PORT nobody listens on: ray.init would wait for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not (host and port.isdigit()):
        return  # "auto", "local": Ray's own checks answer at once
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise DistributedError(f"cannot reach Ray at {address}: {exc.strerror or exc}") from None


class RayEmbedding:
    """index_models' `remote`: renders and embeds jobs as Ray tasks, at most `max_in_flight` at a time
    (default: twice the cluster's CPUs, up to MAX_IN_FLIGHT). Needs a `ray_connection`."""

    def __init__(self, embedder: Embedder, max_in_flight: int | None = None) -> None:
        self.spec = getattr(embedder, "spec", None)
        if self.spec is None:
            raise DistributedError(f"the {embedder.info.name} embedder cannot be rebuilt on Ray workers")
        self.max_in_flight = max_in_flight

    def __call__(self, jobs: Iterator[RenderJob]) -> Iterator[EmbeddedViews]:
        """One result per job, in the order they finish. Closing the iterator cancels the tasks left."""
        ray = _import_ray()
        task = ray.remote(render_and_embed).options(num_cpus=1, max_retries=1)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        limit = self.max_in_flight or min(MAX_IN_FLIGHT, 2 * max(1, cpus))
        in_flight: dict[Any, str] = {}

        def submit(n: int) -> None:
            for job in itertools.islice(jobs, n):
                in_flight[task.remote(job, self.spec)] = job.key

        try:
            submit(limit)
            while in_flight:
                (ref,), _ = ray.wait(list(in_flight), num_returns=1)
                key = in_flight.pop(ref)
                views = _fetch(ray, ref, key)
                submit(1)  # keep the cluster busy while the driver stores this one
                yield views
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=True)


def _fetch(ray: Any, ref: Any, key: str) -> EmbeddedViews:
    """A task's result. A dead worker or node fails only its model (like a crashed render worker);
    an exception in the task's code (e.g. weights missing on a node) stops the run."""
    try:
        views = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        raise DistributedError(f"Ray task for {key} failed: {_one_line(exc.cause or exc)}") from None
    except ray.exceptions.RayError as exc:
        return EmbeddedViews(key, None, None, None, f"Ray worker lost: {_one_line(exc)}")
    # ray.get gives read-only views into the object store: copy, so it is freed once the model is stored
    arrays = (None if a is None else np.array(a) for a in (views.images, views.cameras, views.embeddings))
    return EmbeddedViews(views.key, *arrays, views.error)


def render_and_embed(job: RenderJob, spec: EmbedderSpec) -> EmbeddedViews:
    """The Ray task: render one model in a spawn subprocess, embed its views in this worker process."""
    (result,) = render_jobs([job], workers=1)
    return embed_views(_embedder(spec), result, job.cameras)


def _embedder(spec: EmbedderSpec) -> Embedder:
    if spec not in _EMBEDDERS:
        _EMBEDDERS[spec] = spec.build()
    return _EMBEDDERS[spec]


def _one_line(exc: BaseException) -> str:
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
