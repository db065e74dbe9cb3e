"""Training renders for the from-scratch CNN: every model from every grid camera under random lighting.

Renders run in spawn worker processes (render.pool), so this module is safe next to TensorFlow. Each
model's renders are cached in one .npz named by its content hash and the render settings: an interrupted
run keeps the models already rendered, and a changed CAD file is rendered again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from render.cameras import angular_error_deg
from render.mesh import file_sha256
from render.pool import RenderJob, render_jobs


class TrainingDataError(ValueError):
    """Training data that cannot be made: no models, a model that does not render."""


@dataclass(frozen=True)
class TrainingModel:
    """A CAD model to train on. rotation: 3x3 row-major or None; size: (w, h, d) or None."""

    model_id: str
    path: str
    seat_kind: str
    rotation: list | None = None
    size: tuple[float, float, float] | None = None


@dataclass
class TrainingViews:
    """rgba: (n, S, S, 4) uint8 renders; model: (n,) int index into model_ids; kind: (n,) int index
    into seat_kinds; view: (n,) int index into cameras ((v, 3) unit vectors); n = models x variants x v."""

    rgba: np.ndarray
    model: np.ndarray
    kind: np.ndarray
    view: np.ndarray
    model_ids: list[str]
    seat_kinds: list[str]
    cameras: np.ndarray


def shape_set_models(manifest_path: Path, kinds: Sequence[str] | None = None) -> list[TrainingModel]:
    """TrainingModels for a set of extra training shapes described by a manifest.json (such as
    training_shapes/infinigen/manifest.json): {"generator": name, "shapes": [{"file": path relative to
    the manifest's folder, "kind": seat kind}, ...]}. The meshes must already be in the canonical frame
    (up +Y, front +Z); model ids are "<generator>/<file stem>". kinds: keep only these seat kinds."""
    manifest_path = Path(manifest_path)
    try:
        manifest = json.loads(manifest_path.read_text())
        shapes, generator = manifest["shapes"], manifest.get("generator", manifest_path.parent.name)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainingDataError(f"cannot read shape set manifest {manifest_path}: {exc}") from exc
    models = [_shape_set_model(manifest_path.parent, generator, s) for s in shapes]
    return [m for m in models if kinds is None or m.seat_kind in kinds]


def _shape_set_model(root: Path, generator: str, shape: dict) -> TrainingModel:
    if not isinstance(shape, dict) or not shape.get("file") or not shape.get("kind"):
        raise TrainingDataError(f"shape set entry without file and kind: {shape!r}")
    path = root / shape["file"]
    if not path.is_file():
        raise TrainingDataError(f"shape set file missing: {path}")
    return TrainingModel(f"{generator}/{Path(shape['file']).stem}", str(path), str(shape["kind"]))


def render_training_views(models: Sequence[TrainingModel], cameras: np.ndarray, size_px: int,
                          variants: int, cache_dir: Path, workers: int = 2, seed: int = 0,
                          progress: bool = True) -> TrainingViews:
    """Every model from every camera, `variants` times with different seeded random lighting.
    cameras: (v, 3) unit vectors. Cached per model in cache_dir (see module docstring)."""
    if not models:
        raise TrainingDataError("no models to train on")
    cache_dir.mkdir(parents=True, exist_ok=True)
    cameras = np.asarray(cameras, np.float64)
    files = {m.model_id: cache_dir / f"{_cache_key(m, cameras, size_px, variants, seed)}.npz" for m in models}
    missing = [m for m in models if not files[m.model_id].exists()]
    jobs = [_job(m, cameras, size_px, variants, seed) for m in missing]
    with tqdm(total=len(models), initial=len(models) - len(missing), unit="model",
              desc="training renders", disable=not progress) as bar:
        for result in render_jobs(jobs, workers) if jobs else ():  # no worker start-up when all cached
            if result.error is not None:
                raise TrainingDataError(f"cannot render {result.key}: {result.error}")
            _save_npz(files[result.key], result.images)
            bar.update(1)
    return _assemble(models, files, cameras, variants)


def soft_view_labels(cameras: np.ndarray, sigma_deg: float) -> np.ndarray:
    """(v, v) rows: a Gaussian over the angle between grid cameras (sigma in degrees), summing to 1;
    row i is the viewpoint target for a render from camera i."""
    angles = angular_error_deg(cameras[:, None, :], cameras[None, :, :])
    weights = np.exp(-0.5 * (angles / sigma_deg) ** 2)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _job(model: TrainingModel, cameras: np.ndarray, size_px: int, variants: int, seed: int) -> RenderJob:
    repeated = np.tile(cameras, (variants, 1))
    lighting_seed = int.from_bytes(hashlib.sha256(f"{seed}/{model.model_id}".encode()).digest()[:4], "little")
    return RenderJob(model.model_id, model.path, model.rotation, list(model.size) if model.size else None,
                     repeated, size_px, lighting_seed)


def _cache_key(model: TrainingModel, cameras: np.ndarray, size_px: int, variants: int, seed: int) -> str:
    settings = json.dumps([model.model_id, model.rotation, model.size, size_px, variants, seed,
                           np.round(cameras, 6).tolist()])
    digest = hashlib.sha256((file_sha256(Path(model.path)) + settings).encode()).hexdigest()[:16]
    return f"{hashlib.sha256(model.model_id.encode()).hexdigest()[:8]}-{digest}"


def _save_npz(path: Path, rgba: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, rgba=rgba)
    tmp.replace(path)


def _assemble(models: Sequence[TrainingModel], files: dict[str, Path], cameras: np.ndarray,
              variants: int) -> TrainingViews:
    kinds = sorted({m.seat_kind for m in models})
    per_model = variants * len(cameras)
    rgba = np.concatenate([np.load(files[m.model_id])["rgba"] for m in models])
    return TrainingViews(
        rgba=rgba,
        model=np.repeat(np.arange(len(models)), per_model),
        kind=np.repeat([kinds.index(m.seat_kind) for m in models], per_model),
        view=np.tile(np.arange(len(cameras)), variants * len(models)),
        model_ids=[m.model_id for m in models], seat_kinds=kinds, cameras=cameras,
    )
