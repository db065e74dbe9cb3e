"""Indexing pipeline: CAD files -> rendered views (worker processes) -> embeddings -> collection.

Incremental and idempotent: a model whose content hash is already stored is skipped; a changed file
replaces its model. Resumable: each model commits in its own transaction, so an interrupted run (Ctrl-C
or kill -9) keeps every model finished before the interruption and the next run carries on from there.
Views are written to views/<model>/<content hash>/ before the commit, so an interrupted update never
overwrites the images of the stored version; folders no model refers to are swept at the next run.
Callers hold the index's write lock (index.lock) for the whole run: the sweep of one run would delete
the uncommitted views of another.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from index.collection import Collection, ViewConfig
from index.store import LABEL_FIELDS, ModelRecord
from index.symmetry import Symmetry, scene_symmetry
from index.views import EmbeddedViews, embed_views
from models.embedder import Embedder
from render.cameras import sphere_cameras
from render.mesh import file_sha256, load_scene
from render.pool import RenderJob, RenderResult, render_jobs

log = logging.getLogger(__name__)
SAVE_EVERY_MODELS = 20
_POLL_SECONDS = 0.2  # how often blocked queue calls look for a writer error or a stop request


@dataclass
class ModelSource:
    """A CAD file to index and what we know about it. rotation: 3x3 row-major (Sweet Home 3D
    modelRotation) or None; size: (width, height, depth) in any unit or None (keep proportions)."""

    model_id: str
    path: Path
    name: str
    seat_kind: str | None = None
    category: str | None = None
    licence: str | None = None
    creator: str | None = None
    source: str | None = None
    rotation: list | None = None
    size: tuple[float, float, float] | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class BuildReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (model id, reason)
    relabelled: list[str] = field(default_factory=list)  # unchanged file, new seat kind/licence/...
    views: int = 0

    def summary(self) -> str:
        relabelled = f"relabelled {len(self.relabelled)}, " if self.relabelled else ""
        return (f"added {len(self.added)}, updated {len(self.updated)}, {relabelled}skipped "
                f"{len(self.skipped)} (unchanged), failed {len(self.failed)}; {self.views} views embedded")


def view_cameras(config: ViewConfig) -> np.ndarray:
    """The cameras every model is rendered from. Returns (n, 3) float64 unit vectors."""
    return sphere_cameras(config.count, config.sampling, (config.polar_min_deg, config.polar_max_deg),
                          config.seed)


# Renders and embeds jobs elsewhere (e.g. index.distributed.RayEmbedding), yielding one result per job
# in completion order; closing the iterator cancels the rest.
EmbedJobs = Callable[[Iterator[RenderJob]], Iterator[EmbeddedViews]]


def index_models(collection: Collection, embedder: Embedder, sources: Sequence[ModelSource],
                 workers: int = 2, progress: bool = True, remote: EmbedJobs | None = None) -> BuildReport:
    """Render, embed and store every source not already indexed with the same content hash.

    The main thread only hands render results over, so a worker gets its next job as soon as it is
    done; embedding and storing run in a writer thread behind a queue of `workers` results. With
    `remote`, rendering and embedding happen there (`embedder` must be the same one: it is checked
    against the index) and only the storing runs here, through the same code.
    """
    collection.check_embedder(embedder.info)
    report = BuildReport()
    todo = _pending(collection, sources, report)
    sweep_views(collection)
    cameras = view_cameras(collection.view_config)
    bar = tqdm(total=len(todo), unit="model", desc="indexing", disable=not progress)
    stored = itertools.count(1)

    def store(result: RenderResult | EmbeddedViews) -> None:
        views = result if isinstance(result, EmbeddedViews) else embed_views(embedder, result, cameras)
        source, file_hash = todo[views.key]
        _store_views(collection, source, file_hash, views, report)
        bar.update(1)
        bar.set_postfix(views=report.views, failed=len(report.failed))
        if next(stored) % SAVE_EVERY_MODELS == 0:
            collection.save()

    writer = _Writer(store, depth=max(1, workers))
    try:
        if todo:  # no worker start-up when everything is up to date
            jobs = _jobs(todo, cameras, collection.view_config)
            results = render_jobs(jobs, workers) if remote is None else remote(jobs)
            with contextlib.closing(results):
                for result in results:
                    writer.put(result)
        writer.finish()
    finally:
        writer.stop()
        bar.close()
        collection.save()
    return report


def _jobs(todo: dict[str, tuple[ModelSource, str]], cameras: np.ndarray, config: ViewConfig,
          ) -> Iterator[RenderJob]:
    for source, _ in todo.values():
        yield RenderJob(source.model_id, str(source.path), source.rotation,
                        list(source.size) if source.size else None, cameras, config.size_px)


class _Writer:
    """Runs `store(result)` for queued results in one thread. `stop` lets the model in hand finish
    (a model is stored whole or not at all) and drops the queued ones."""

    def __init__(self, store: Callable[[RenderResult | EmbeddedViews], None], depth: int) -> None:
        self._store = store
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="photo2cad-index-writer", daemon=True)
        self._thread.start()

    def put(self, result: RenderResult | EmbeddedViews | None) -> None:
        """Queue a result (None: no more). Blocks while the queue is full; re-raises a writer error."""
        while True:
            self._raise_error()
            try:
                self._queue.put(result, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        self.put(None)
        self._thread.join()
        self._raise_error()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                result = self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if result is None:
                return
            try:
                self._store(result)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
                self._error = exc
                return


def _pending(collection: Collection, sources: Iterable[ModelSource], report: BuildReport,
             ) -> dict[str, tuple[ModelSource, str]]:
    """Sources whose file is new or changed, keyed by model id; the rest are reported skipped."""
    todo: dict[str, tuple[ModelSource, str]] = {}
    for source in sources:
        try:
            file_hash = file_sha256(Path(source.path))
        except OSError as exc:
            report.failed.append((source.model_id, f"cannot read {source.path}: {exc.strerror or exc}"))
            continue
        if collection.store.file_hash(source.model_id) == file_hash:
            _relabel(collection, source, report)
        else:
            todo[source.model_id] = (source, file_hash)
    return todo


def _relabel(collection: Collection, source: ModelSource, report: BuildReport) -> None:
    """An unchanged file: skipped, but labels given this time (seat kind, category, licence, creator;
    None = not given) replace the stored ones without rendering again."""
    stored = collection.store.get_model(source.model_id)
    changes = {f: getattr(source, f) for f in LABEL_FIELDS
               if getattr(source, f) is not None and getattr(source, f) != getattr(stored, f)}
    if changes:
        collection.store.update_labels(source.model_id, changes)
        report.relabelled.append(source.model_id)
    else:
        report.skipped.append(source.model_id)


def _store_views(collection: Collection, source: ModelSource, file_hash: str, views: EmbeddedViews,
                 report: BuildReport) -> None:
    if views.error is not None:
        report.failed.append((source.model_id, views.error))
        log.warning("%s: %s", source.model_id, views.error)
        return
    folder = collection.views_dir(source.model_id) / file_hash[:16]
    image_paths, symmetry = _save_views(collection, source, folder, views.images)
    existed = collection.store.file_hash(source.model_id) is not None
    record = _record(source, file_hash, collection, folder)
    if symmetry is not None:
        record.extra["symmetry"] = symmetry.to_dict()
    collection.put_model(record, views.cameras, views.embeddings, image_paths)
    _keep_only(folder)
    (report.updated if existed else report.added).append(source.model_id)
    report.views += len(views.images)


def _save_views(collection: Collection, source: ModelSource, folder: Path, rgb: np.ndarray,
                ) -> tuple[list[str], Symmetry | None]:
    """Writes folder/NNNN.jpg and folder/model.glb (the normalised mesh, for the 3D viewer); folder is
    per content hash, so the views of the stored version stay intact until the new one commits.
    Returns the image paths relative to the collection root and the mesh's symmetry (index.symmetry;
    None if the mesh could not be loaded here)."""
    shutil.rmtree(folder, ignore_errors=True)  # debris of an interrupted run: start clean
    folder.mkdir(parents=True)
    paths = []
    for i, image in enumerate(rgb):
        path = folder / f"{i:04d}.jpg"
        Image.fromarray(image).save(path, quality=88)
        paths.append(str(path.relative_to(collection.root)))
    return paths, _export_glb(source, folder / "model.glb")


def _keep_only(folder: Path) -> None:
    """Delete everything in the model's views dir but `folder` (the committed version)."""
    for entry in folder.parent.iterdir():
        if entry != folder:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def sweep_views(collection: Collection) -> int:
    """Delete view folders that no stored model refers to (left by interrupted runs) and stale temp
    files of atomic writes. Returns the number of folders removed."""
    for tmp in collection.root.glob("*.tmp"):
        tmp.unlink(missing_ok=True)
    views = collection.root / "views"
    if not views.is_dir():
        return 0
    paths = [p for p in collection.store.view_table().image_paths if p]
    paths += [r.extra["glb_path"] for r in collection.store.list_models() if r.extra.get("glb_path")]
    referenced = {(collection.root / p).parent for p in paths}
    removed = 0
    for model_dir in (d for d in views.iterdir() if d.is_dir() and d not in referenced):
        for version in (v for v in model_dir.iterdir() if v.is_dir() and v not in referenced):
            shutil.rmtree(version)
            removed += 1
        if not any(model_dir.iterdir()):
            model_dir.rmdir()
    return removed


def _export_glb(source: ModelSource, path: Path) -> Symmetry | None:
    """Writes the normalised mesh as GLB and returns its symmetry (both from one load of the mesh)."""
    try:
        scene = load_scene(Path(source.path), source.rotation, source.size)
        path.write_bytes(scene.export(file_type="glb"))
        return scene_symmetry(scene)
    except Exception as exc:  # display-only artefact: never fail indexing because of it
        log.warning("%s: no GLB for the 3D viewer (%s)", source.model_id, exc)
        return None


def _record(source: ModelSource, file_hash: str, collection: Collection, folder: Path) -> ModelRecord:
    glb = folder / "model.glb"
    extra = dict(source.extra, glb_path=str(glb.relative_to(collection.root)) if glb.exists() else None)
    if source.rotation is not None:
        extra["rotation"] = source.rotation
    if source.size is not None:
        extra["size"] = list(source.size)
    return ModelRecord(source.model_id, source.name, str(source.path), file_hash, source.seat_kind,
                       source.category, source.licence, source.creator, source.source, extra)


def remove_models(collection: Collection, model_ids: Iterable[str]) -> int:
    """Remove models (their views, vectors and rendered files). Returns the number of views removed."""
    removed = 0
    for model_id in model_ids:
        removed += collection.remove_model(model_id)
        shutil.rmtree(collection.views_dir(model_id), ignore_errors=True)
    collection.save()
    return removed
