"""Indexing pipeline: CAD files -> rendered views (worker processes) -> embeddings -> collection.

Incremental and idempotent: a model whose content hash is already stored is skipped; a changed file
replaces its model. Resumable: each model commits in its own transaction, so an interrupted run keeps
every model finished before the interruption and the next run carries on from there.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from index.collection import Collection, ViewConfig
from index.store import ModelRecord
from models.embedder import Embedder
from render.backgrounds import composite
from render.cameras import sphere_cameras
from render.mesh import file_sha256, load_scene
from render.pool import RenderJob, RenderResult, render_jobs

log = logging.getLogger(__name__)
SAVE_EVERY_MODELS = 20
VIEW_BACKGROUND = (255, 255, 255)


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
    views: int = 0

    def summary(self) -> str:
        return (f"added {len(self.added)}, updated {len(self.updated)}, skipped {len(self.skipped)} "
                f"(unchanged), failed {len(self.failed)}; {self.views} views embedded")


def view_cameras(config: ViewConfig) -> np.ndarray:
    """The cameras every model is rendered from. Returns (n, 3) float64 unit vectors."""
    return sphere_cameras(config.count, config.sampling, (config.polar_min_deg, config.polar_max_deg),
                          config.seed)


def index_models(collection: Collection, embedder: Embedder, sources: Sequence[ModelSource],
                 workers: int = 2, progress: bool = True) -> BuildReport:
    """Render, embed and store every source not already indexed with the same content hash."""
    collection.check_embedder(embedder.info)
    report = BuildReport()
    todo = _pending(collection, sources, report)
    config = collection.view_config
    cameras = view_cameras(config)
    jobs = (RenderJob(s.model_id, str(s.path), s.rotation, list(s.size) if s.size else None, cameras,
                      config.size_px) for s, _ in todo.values())
    bar = tqdm(total=len(todo), unit="model", desc="indexing", disable=not progress)
    try:
        for done, result in enumerate(render_jobs(jobs, workers), start=1):
            source, file_hash = todo[result.key]
            _store_result(collection, embedder, source, file_hash, result, cameras, report)
            bar.update(1)
            bar.set_postfix(views=report.views, failed=len(report.failed))
            if done % SAVE_EVERY_MODELS == 0:
                collection.save()
    finally:
        bar.close()
        collection.save()
    return report


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
            report.skipped.append(source.model_id)
        else:
            todo[source.model_id] = (source, file_hash)
    return todo


def _store_result(collection: Collection, embedder: Embedder, source: ModelSource, file_hash: str,
                  result: RenderResult, cameras: np.ndarray, report: BuildReport) -> None:
    if result.error is not None:
        report.failed.append((source.model_id, result.error))
        log.warning("%s: %s", source.model_id, result.error)
        return
    rgb = composite(result.images, VIEW_BACKGROUND)
    embeddings = embedder.embed(rgb)
    image_paths = _save_views(collection, source, rgb)
    existed = collection.store.file_hash(source.model_id) is not None
    collection.put_model(_record(source, file_hash, collection), cameras, embeddings, image_paths)
    (report.updated if existed else report.added).append(source.model_id)
    report.views += len(rgb)


def _save_views(collection: Collection, source: ModelSource, rgb: np.ndarray) -> list[str]:
    """Writes views/<model>/NNN.jpg and model.glb (the normalised mesh, for the 3D viewer).
    Returns the image paths relative to the collection root."""
    folder = collection.views_dir(source.model_id)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(rgb):
        path = folder / f"{i:04d}.jpg"
        Image.fromarray(image).save(path, quality=88)
        paths.append(str(path.relative_to(collection.root)))
    _export_glb(source, folder / "model.glb")
    return paths


def _export_glb(source: ModelSource, path: Path) -> None:
    try:
        scene = load_scene(Path(source.path), source.rotation, source.size)
        path.write_bytes(scene.export(file_type="glb"))
    except Exception as exc:  # display-only artefact: never fail indexing because of it
        log.warning("%s: no GLB for the 3D viewer (%s)", source.model_id, exc)


def _record(source: ModelSource, file_hash: str, collection: Collection) -> ModelRecord:
    glb = collection.views_dir(source.model_id) / "model.glb"
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
