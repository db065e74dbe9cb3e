"""Frozen-backbone features of domain-randomised renders, computed once and cached on disk per model.

For each training model: `queries` random cameras (Monte Carlo in the polar range), rendered in spawn
workers (render.pool: no TensorFlow there) under seeded random lighting, in `material_jobs` groups that
each get their own random part colours (or, for a share, the model's own materials), then composited and
augmented (models.augment) and embedded by the frozen backbone. One .npz per model, named by its file's
content hash, every setting and the background crops: an interrupted run keeps the models already done.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from models.augment import AugmentConfig, augment_batch
from models.training_data import TrainingDataError, TrainingModel
from render.cameras import sphere_cameras
from render.mesh import file_sha256
from render.pool import RenderJob, render_jobs

CACHE_FORMAT = 1


@dataclass(frozen=True)
class FeatureConfig:
    """How the query images are made. render_size_px: render side; input_size_px: the backbone's;
    queries: images per model; material_jobs: render groups per model, each with its own part colours;
    p_random_materials: share of groups recoloured (the rest keep the model's materials)."""

    render_size_px: int = 160
    input_size_px: int = 224
    queries: int = 64
    material_jobs: int = 4
    p_random_materials: float = 0.5
    polar_range_deg: tuple[float, float] = (20.0, 90.0)
    seed: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


@dataclass
class QueryFeatures:
    """features: (n, d) float32 unit backbone vectors; model: (n,) int index into model_ids;
    cameras: (n, 3) unit vectors the images were rendered from; input_size_px: the backbone's input;
    random_materials: (n,) bool, rendered with random part colours (else the model's own materials)."""

    features: np.ndarray
    model: np.ndarray
    cameras: np.ndarray
    model_ids: list[str]
    input_size_px: int
    random_materials: np.ndarray


def query_features(models: Sequence[TrainingModel], backbone, backgrounds: np.ndarray, config: FeatureConfig,
                   cache_dir: Path, workers: int = 1, progress: bool = True, normalise: bool = True) -> QueryFeatures:
    """Features of randomised renders of every model (cached per model in cache_dir, see the module).
    backbone: prepare-free embedder with `embed_prepared` ((n, S, S, 3) float32 in [0, 255] -> (n, d)
    unit rows), e.g. models.transfer.TransferEmbedder; backgrounds: (B, S, S, 3) uint8, S = input size.
    normalise False: the rows as the backbone answered them (e.g. flattened activations, models.finetune)."""
    if not models:
        raise TrainingDataError("no models to compute features of")
    cache_dir.mkdir(parents=True, exist_ok=True)
    pool_digest = hashlib.sha256(np.ascontiguousarray(backgrounds).tobytes()).hexdigest()[:16]
    files = {m.model_id: cache_dir / f"{_cache_key(m, config, pool_digest)}.npz" for m in models}
    missing = [m for m in models if not files[m.model_id].exists()]
    parts: dict[str, list] = {m.model_id: [] for m in missing}
    jobs = [job for m in missing for job in _jobs(m, config)]
    pool = tf.constant(backgrounds)
    with tqdm(total=len(models), initial=len(models) - len(missing), unit="model", desc="adapter features",
              disable=not progress) as bar:
        for result in render_jobs(jobs, workers) if jobs else ():
            model_id, _, part = result.key.rpartition("|")
            if result.error is not None:
                raise TrainingDataError(f"cannot render {model_id}: {result.error}")
            parts[model_id].append((int(part), result.images))
            if len(parts[model_id]) == config.material_jobs:
                _save(files[model_id], parts.pop(model_id), backbone, pool, config, model_id)
                bar.update(1)
    return _assemble(models, files, config, normalise)


def stack_queries(parts: Sequence[QueryFeatures]) -> QueryFeatures:
    """Query sets of the same models (e.g. drawn with different seeds) as one: their rows stacked."""
    first = parts[0]
    if any(p.model_ids != first.model_ids or p.input_size_px != first.input_size_px for p in parts):
        raise TrainingDataError("query sets to stack must hold the same models at the same input size")
    return QueryFeatures(*(np.concatenate([getattr(p, name) for p in parts])
                           for name in ("features", "model", "cameras")), first.model_ids, first.input_size_px,
                         np.concatenate([p.random_materials for p in parts]))


def model_cameras(model_id: str, config: FeatureConfig) -> np.ndarray:
    """The (queries, 3) seeded random cameras of one model."""
    return sphere_cameras(config.queries, "montecarlo", tuple(config.polar_range_deg), _seed(config.seed, model_id))


def _jobs(model: TrainingModel, config: FeatureConfig) -> list[RenderJob]:
    cameras = np.array_split(model_cameras(model.model_id, config), config.material_jobs)
    rng = np.random.default_rng(_seed(config.seed + 1, model.model_id))
    size = list(model.size) if model.size else None
    return [RenderJob(f"{model.model_id}|{j}", model.path, model.rotation, size, group, config.render_size_px,
                      int(rng.integers(2**31)),
                      int(rng.integers(2**31)) if rng.uniform() < config.p_random_materials else None)
            for j, group in enumerate(cameras)]


def _save(path: Path, parts: list, backbone, pool: tf.Tensor, config: FeatureConfig, model_id: str) -> None:
    rgba = np.concatenate([images for _, images in sorted(parts, key=lambda p: p[0])])
    seed = tf.constant([_seed(config.seed + 2, model_id), 0], tf.int64)
    images = augment_batch(tf.constant(rgba), pool, seed, config.input_size_px, config.augment).numpy()
    features = backbone.embed_prepared(images)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, features=features.astype(np.float16), cameras=model_cameras(model_id, config),
             preview=images[:2].astype(np.uint8))
    tmp.replace(path)


def _assemble(models: Sequence[TrainingModel], files: dict[str, Path], config: FeatureConfig,
              normalise: bool = True) -> QueryFeatures:
    loaded = [np.load(files[m.model_id]) for m in models]
    features = np.concatenate([f["features"] for f in loaded])
    if normalise:
        features = features.astype(np.float32)
        features /= np.linalg.norm(features, axis=1, keepdims=True)
    counts = [len(f["features"]) for f in loaded]
    recoloured = [np.repeat([job.material_seed is not None for job in _jobs(m, config)],
                            [len(job.cameras) for job in _jobs(m, config)]) for m in models]
    return QueryFeatures(features, np.repeat(np.arange(len(models)), counts),
                         np.concatenate([f["cameras"] for f in loaded]), [m.model_id for m in models],
                         config.input_size_px, np.concatenate(recoloured))


def _seed(seed: int, model_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{model_id}".encode()).digest()[:4], "little")


def _cache_key(model: TrainingModel, config: FeatureConfig, pool_digest: str) -> str:
    """Named by the model file's content, every setting and the background crops (panoramas held out
    by another split must not come back from the cache)."""
    settings = json.dumps([CACHE_FORMAT, model.model_id, model.rotation, model.size, config.to_json(), pool_digest])
    digest = hashlib.sha256((file_sha256(Path(model.path)) + settings).encode()).hexdigest()[:16]
    return f"{hashlib.sha256(model.model_id.encode()).hexdigest()[:8]}-{digest}"
