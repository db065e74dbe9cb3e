"""Training the from-scratch CNN on renders: data, augmentation, checkpoints, resume, manifest.

`train(...)` renders (cached) every model from every grid camera under random lighting, trains the three
heads with augmentation on crops of the training HDRI panoramas, validates each epoch on off-grid
cameras, and writes the model folder (models.scratch) with manifest.json. Keras' BackupAndRestore keeps
the model and optimizer state after every epoch in <out>/backup, so running the same command again after
an interruption resumes at the last finished epoch; a different configuration is refused.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from models.augment import AugmentConfig, augment_batch, background_pool
from models.scratch import DEFAULT_WIDTHS, ScratchConfig, build_scratch_cnn, save_model
from models.training_data import (
    TrainingDataError,
    TrainingModel,
    TrainingViews,
    render_training_views,
    soft_view_labels,
)
from models.versions import installed_versions
from render.backgrounds import composite
from render.cameras import angular_error_deg, sphere_cameras
from render.pool import RenderJob, render_jobs

PROGRESS_FILE = "progress.json"
MANIFEST_FILE = "manifest.json"
TRAIN_CONFIG_FILE = "train_config.json"
VERSIONED = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "pyrender", "trimesh")  # in the manifest


class TrainingError(ValueError):
    """Training that cannot start or resume (bad inputs, a different configuration in the folder)."""


@dataclass
class TrainConfig:
    """Everything that decides the trained weights (saved with them). Sizes in pixels."""

    input_size_px: int = 96
    render_size_px: int = 112  # renders are a little larger than the input: crops and zooms keep detail
    widths: tuple[int, ...] = DEFAULT_WIDTHS
    embedding_dim: int = 256
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    variants: int = 2  # renders of each grid view, each under its own random lighting
    view_sigma_deg: float = 12.0  # width of the soft viewpoint labels
    loss_weights: dict = field(default_factory=lambda: {"model": 1.0, "kind": 0.5, "view": 1.0})
    val_views_per_model: int = 2
    background_pool: int = 512
    seed: int = 0
    max_minutes: float | None = None  # stop after the epoch that crosses this budget
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


def train(models: list[TrainingModel], cameras: np.ndarray, panoramas: dict[str, np.ndarray], out_dir: Path,
          config: TrainConfig, polar_range_deg: tuple[float, float] = (20.0, 90.0), workers: int = 2,
          progress: bool = True, data_info: dict | None = None, cache_dir: Path | None = None) -> dict:
    """Train on `models` seen from the grid `cameras` ((v, 3) unit vectors) over crops of `panoramas`
    (name -> equirectangular (H, W, 3) uint8, see render.backgrounds.load_panorama), writing the model
    folder out_dir. cache_dir: where the renders are cached (default out_dir/renders).
    Returns the manifest (also in out_dir/manifest.json)."""
    started = time.time()
    if not panoramas:
        raise TrainingError("training needs at least one HDRI panorama for photo backgrounds")
    out_dir.mkdir(parents=True, exist_ok=True)
    check_resume(out_dir, config)
    views = render_training_views(models, cameras, config.render_size_px, config.variants,
                                  cache_dir or out_dir / "renders", workers, config.seed, progress)
    pool = background_pool(list(panoramas.values()), config.input_size_px,
                           config.background_pool, config.seed)
    val_x, val = _validation_set(models, views, pool, config, polar_range_deg, workers)
    scratch = ScratchConfig(views.model_ids, views.seat_kinds, len(cameras), config.input_size_px,
                            tuple(config.widths), config.embedding_dim)
    model = _compiled(scratch, config, steps=config.epochs * _steps_per_epoch(views, config))
    history = _fit(model, views, pool, val_x, val, config, out_dir, progress)
    manifest = _manifest(config, views, val, history, started, panoramas, data_info or {})
    manifest["metrics"]["val"] = _val_metrics(model, val_x, val, cameras)
    scratch.extra["manifest"] = manifest
    save_model(model, scratch, out_dir)
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(out_dir / "backup", ignore_errors=True)
    return manifest


def is_trained(out_dir: Path) -> bool:
    """A finished model folder (weights, config and manifest written)."""
    return (out_dir / MANIFEST_FILE).exists() and (out_dir / "config.json").exists()


def check_resume(out_dir: Path, config, data: dict | None = None) -> None:
    """Record config (anything with to_json(), e.g. TrainConfig) and the training data's description `data`
    (a manifest's "data": seeds, shapes, held-out sets; keys ending in "_this_run" are ignored) in out_dir,
    or refuse a run already there whose settings or data differ (max_minutes may change between resumes)."""
    path = out_dir / TRAIN_CONFIG_FILE
    wanted = config.to_json() | ({"data": resumable_data(data)} if data is not None else {})
    resumable = {k: v for k, v in wanted.items() if k != "max_minutes"}
    if path.exists():
        saved = {k: v for k, v in json.loads(path.read_text()).items() if k != "max_minutes"}
        if saved != resumable:
            changed = sorted(k for k in resumable.keys() | saved.keys() if saved.get(k) != resumable.get(k))
            if "data" in changed:
                changed.remove("data")
                old, new = saved.get("data") or {}, resumable.get("data") or {}
                changed += [f"data: {k}" for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)]
            raise TrainingError(f"{out_dir} holds a training run with other settings ({', '.join(changed)}); "
                                "use another --out folder or delete it")
    path.write_text(json.dumps(wanted, indent=1))


def resumable_data(data: dict) -> dict:
    """data without what changes from one resume to the next (keys ending in "_this_run"), as JSON would
    read it back (tuples as lists)."""
    return json.loads(json.dumps({k: v for k, v in data.items() if not k.endswith("_this_run")}, default=str))


def _steps_per_epoch(views: TrainingViews, config: TrainConfig) -> int:
    return max(1, len(views.rgba) // config.batch_size)


def _compiled(scratch: ScratchConfig, config: TrainConfig, steps: int) -> keras.Model:
    keras.utils.set_random_seed(config.seed)
    model = build_scratch_cnn(scratch)
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=steps, alpha=0.02,
                                                      warmup_target=None)
    sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
        loss={"model": sparse, "kind": sparse, "view": keras.losses.CategoricalCrossentropy(from_logits=True)},
        loss_weights=dict(config.loss_weights),
        metrics={"model": ["accuracy"], "kind": ["accuracy"], "view": ["categorical_accuracy"]},
    )
    return model


def _fit(model: keras.Model, views: TrainingViews, pool: np.ndarray, val_x: np.ndarray, val: dict,
         config: TrainConfig, out_dir: Path, progress: bool) -> list[dict]:
    done = _read_progress(out_dir)
    dataset = _dataset(views, pool, config, seed_offset=len(done))
    soft = soft_view_labels(views.cameras, config.view_sigma_deg)
    val_y = {"model": val["model"], "kind": val["kind"], "view": soft[val["view"]]}
    callbacks = [keras.callbacks.BackupAndRestore(str(out_dir / "backup")),
                 _ProgressFile(out_dir / PROGRESS_FILE, done), _TimeBudget(config.max_minutes, done)]
    model.fit(dataset, epochs=config.epochs, steps_per_epoch=_steps_per_epoch(views, config),
              validation_data=(val_x.astype(np.float32), val_y), callbacks=callbacks,
              verbose=1 if progress else 0)
    return _read_progress(out_dir)


def _dataset(views: TrainingViews, pool: np.ndarray, config: TrainConfig, seed_offset: int) -> tf.data.Dataset:
    """Infinite batches of (augmented images, {"model", "kind", "view" soft labels}); reshuffled each pass."""
    rgba = tf.constant(views.rgba)
    backgrounds = tf.constant(pool)
    labels = {"model": tf.constant(views.model), "kind": tf.constant(views.kind)}
    soft = tf.constant(soft_view_labels(views.cameras, config.view_sigma_deg))
    view = tf.constant(views.view)
    size = config.input_size_px

    def make(indices: tf.Tensor, seed: tf.Tensor):
        images = augment_batch(tf.gather(rgba, indices), backgrounds, seed, size, config.augment)
        targets = {k: tf.gather(v, indices) for k, v in labels.items()}
        targets["view"] = tf.gather(soft, tf.gather(view, indices))
        return images, targets

    order = (tf.data.Dataset.range(len(views.rgba))
             .shuffle(len(views.rgba), seed=config.seed, reshuffle_each_iteration=True)
             .batch(config.batch_size, drop_remainder=True).repeat())
    seeds = tf.data.Dataset.random(seed=config.seed + 1000 * seed_offset).batch(2)
    return tf.data.Dataset.zip((order, seeds)).map(make, num_parallel_calls=1).prefetch(2)


def _validation_set(models: list[TrainingModel], views: TrainingViews, pool: np.ndarray, config: TrainConfig,
                    polar_range_deg: tuple[float, float], workers: int) -> tuple[np.ndarray, dict]:
    """Off-grid cameras of every training model, random lighting, on pool backgrounds: (n, S, S, 3) uint8
    and labels {"model", "kind", "view" (nearest grid camera), "camera" (n, 3)}."""
    per = config.val_views_per_model
    cameras = sphere_cameras(per * len(models), "montecarlo", polar_range_deg, config.seed + 7)
    jobs = [RenderJob(m.model_id, m.path, m.rotation, list(m.size) if m.size else None,
                      cameras[i * per:(i + 1) * per], config.input_size_px, config.seed + 100 + i)
            for i, m in enumerate(models)]
    rendered = {}
    for result in render_jobs(jobs, workers):
        if result.error is not None:
            raise TrainingDataError(f"cannot render {result.key}: {result.error}")
        rendered[result.key] = result.images
    rgba = np.concatenate([rendered[m.model_id] for m in models])
    rng = np.random.default_rng(config.seed + 3)
    images = composite(rgba, pool[rng.integers(len(pool), size=len(rgba))])
    nearest = angular_error_deg(cameras[:, None], views.cameras[None]).argmin(axis=1)
    return images, {"model": np.repeat(np.arange(len(models)), per),
                    "kind": np.repeat([views.seat_kinds.index(m.seat_kind) for m in models], per),
                    "view": nearest, "camera": cameras}


def _val_metrics(model: keras.Model, val_x: np.ndarray, val: dict, grid: np.ndarray) -> dict:
    outputs = model.predict(val_x.astype(np.float32), batch_size=64, verbose=0)  # offline, once per run
    view_error = angular_error_deg(grid[outputs["view"].argmax(axis=1)], val["camera"])
    return {"images": len(val_x), "model_accuracy": float((outputs["model"].argmax(1) == val["model"]).mean()),
            "kind_accuracy": float((outputs["kind"].argmax(1) == val["kind"]).mean()),
            "view_head_mean_error_deg": float(view_error.mean()),
            "view_head_median_error_deg": float(np.median(view_error))}


def _manifest(config: TrainConfig, views: TrainingViews, val: dict, history: list[dict], started: float,
              panoramas: dict[str, np.ndarray], data_info: dict) -> dict:
    return {
        "kind": "scratch_cnn training run",
        "config": config.to_json(),
        "data": {**data_info, "models": len(views.model_ids), "model_ids": views.model_ids,
                 "seat_kinds": views.seat_kinds, "grid_views": len(views.cameras),
                 "training_images": len(views.rgba), "validation_images": len(val["model"]),
                 "panoramas": sorted(panoramas)},
        "versions": installed_versions(VERSIONED),
        "epochs_done": len(history),
        "stopped_by_time_budget": len(history) < config.epochs,
        "history": history,
        "metrics": {"train": history[-1] if history else {}},
        "seconds_this_run": round(time.time() - started, 1),
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }



def _read_progress(out_dir: Path) -> list[dict]:
    path = out_dir / PROGRESS_FILE
    return json.loads(path.read_text())["history"] if path.exists() else []


class _ProgressFile(keras.callbacks.Callback):
    """Appends each finished epoch's logs and duration to progress.json (atomically): the history
    across resumes."""

    def __init__(self, path: Path, done: list[dict]) -> None:
        super().__init__()
        self.path, self.history, self.began = path, list(done), time.time()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.began = time.time()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.history.append({"epoch": epoch + 1, "seconds": round(time.time() - self.began, 1),
                             **{k: round(float(v), 5) for k, v in (logs or {}).items()}})
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"history": self.history}, indent=1))
        tmp.replace(self.path)


class _TimeBudget(keras.callbacks.Callback):
    """Stops training after the epoch that takes the total training time (over resumes) past the budget."""

    def __init__(self, max_minutes: float | None, done: list[dict]) -> None:
        super().__init__()
        self.max_seconds = None if max_minutes is None else max_minutes * 60
        self.spent = sum(h["seconds"] for h in done)
        self.started = time.time()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.max_seconds is not None and self.spent + time.time() - self.started > self.max_seconds:
            self.model.stop_training = True
