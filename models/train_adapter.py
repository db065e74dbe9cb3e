"""Training the Lite0 adapter on cached backbone features: heads, metric loss, checkpoints, resume, manifest.

Inputs are frozen-backbone unit features: photo-like queries (models.adapter_features) and the clean
index views of the same training models (the `efficientnet_lite0` index's stored vectors). Each batch of
queries is paired with the clean view of its model at the nearest grid camera; the loss is
    cross-entropy of the model and kind heads + soft-label cross-entropy of the view head (on queries and
    clean views alike) + an InfoNCE term pulling each query's embedding towards the clean views in the
    batch of the same model, weighted by a Gaussian of the angle between their cameras.
The model and optimizer state is checkpointed after every epoch in <out>/checkpoint: running the same
command again resumes after the last finished epoch; a different configuration is refused.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from models.adapter import AdapterConfig, build_adapter, save_adapter
from models.adapter_features import QueryFeatures
from models.train import TrainingError, check_resume
from models.training_data import soft_view_labels
from models.versions import installed_versions
from render.cameras import angular_error_deg

PROGRESS_FILE = "progress.json"
MANIFEST_FILE = "manifest.json"
VERSIONED = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "pyrender", "trimesh", "faiss-cpu")


@dataclass
class AdapterTrainConfig:
    """Everything that decides the trained weights (saved with them)."""

    hidden_dim: int = 512
    embedding_dim: int = 256
    dropout: float = 0.1
    epochs: int = 40
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    view_sigma_deg: float = 12.0  # soft viewpoint labels
    pair_sigma_deg: float = 15.0  # how fast the metric loss's pull falls off with the camera angle
    temperature: float = 0.05  # InfoNCE temperature
    loss_weights: dict = field(default_factory=lambda: {"model": 1.0, "kind": 0.5, "view": 0.5, "metric": 1.0})
    val_fraction: float = 0.1  # queries kept out of training to report retrieval accuracy
    queries_per_model: int | None = None  # use only the first n cached queries of each model (None: all)
    materials: str = "all"  # "all" queries, or only those with "random" part colours, or their "own" materials
    seed: int = 0
    max_minutes: float | None = None  # stop after the epoch that crosses this budget

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


@dataclass
class CleanViews:
    """The index's clean views of the training models: features (m, d) float32 unit rows, model (m,) int
    index into the queries' model_ids, cameras (m, 3) unit vectors (grid cameras)."""

    features: np.ndarray
    model: np.ndarray
    cameras: np.ndarray


def train_adapter(queries: QueryFeatures, clean: CleanViews, seat_kinds: list[str], grid: np.ndarray,
                  out_dir: Path, config: AdapterTrainConfig, data_info: dict | None = None,
                  progress: bool = True) -> dict:
    """Train into out_dir (a models.adapter folder plus manifest.json). seat_kinds: one per model of
    queries.model_ids; grid: (v, 3) the index's view cameras. Returns the manifest."""
    started = time.time()
    out_dir.mkdir(parents=True, exist_ok=True)
    check_resume(out_dir, config, data_info or {})
    data = _Data(select_queries(queries, config), clean, seat_kinds, grid, config)
    adapter = AdapterConfig(queries.model_ids, data.kinds, len(grid), queries.features.shape[1],
                            config.hidden_dim, config.embedding_dim, config.dropout, queries.input_size_px)
    keras.utils.set_random_seed(config.seed)
    model = build_adapter(adapter)
    manifest = fit_and_report(model, data, config, out_dir, data_info or {}, started, progress)
    adapter.extra["manifest"] = manifest
    save_adapter(model, adapter, out_dir)
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(out_dir / "checkpoint", ignore_errors=True)
    return manifest


def fit_and_report(model: keras.Model, data: _Data, config: AdapterTrainConfig, out_dir: Path, data_info: dict,
                   started: float, progress: bool = True) -> dict:
    """Train `model` (outputs as models.adapter.build_adapter's) on data, resuming from out_dir's checkpoint.
    Returns the manifest, with validation retrieval before (backbone) and after training."""
    steps = config.epochs * data.steps_per_epoch(config.batch_size)
    optimizer = keras.optimizers.AdamW(keras.optimizers.schedules.CosineDecay(config.learning_rate, steps, 0.02),
                                       weight_decay=config.weight_decay)
    history = _fit(model, optimizer, data, config, out_dir, progress)
    manifest = _manifest(config, data, history, started, data_info)
    manifest["metrics"]["val"] = data.val_metrics(model)
    return manifest


def select_queries(queries: QueryFeatures, config: AdapterTrainConfig) -> QueryFeatures:
    """The queries a run trains on: config.materials ("all", "random", "own"), then the first
    config.queries_per_model of every model (all for None)."""
    if config.materials not in ("all", "random", "own"):
        raise TrainingError(f"materials must be all, random or own, not {config.materials!r}")
    keep = np.ones(len(queries.model), bool)
    if config.materials != "all":
        keep = queries.random_materials == (config.materials == "random")
    if config.queries_per_model is not None:
        model = queries.model
        rank = np.zeros(len(model), np.int64)
        for m in np.unique(model):
            rows = np.flatnonzero((model == m) & keep)
            rank[rows] = np.arange(len(rows))
        keep &= rank < config.queries_per_model
    return replace(queries, features=queries.features[keep], model=queries.model[keep],
                   cameras=queries.cameras[keep], random_materials=queries.random_materials[keep])


def is_trained(out_dir: Path) -> bool:
    return (out_dir / MANIFEST_FILE).exists() and (out_dir / "config.json").exists()


class _Data:
    """Labels and pairings as arrays: query rows split into train / val, each with its positive clean row."""

    def __init__(self, queries: QueryFeatures, clean: CleanViews, seat_kinds: list[str], grid: np.ndarray,
                 config: AdapterTrainConfig) -> None:
        if len(seat_kinds) != len(queries.model_ids):
            raise TrainingError("one seat kind per training model is needed")
        self.queries, self.clean, self.grid = queries, clean, np.asarray(grid, np.float64)
        self.kinds = sorted(set(seat_kinds))
        self.model_kind = np.array([self.kinds.index(k) for k in seat_kinds])
        self.query_view = _nearest(queries.cameras, self.grid)
        self.clean_view = _nearest(clean.cameras, self.grid)
        self.positive = self._positives()
        rng = np.random.default_rng(config.seed)
        order = rng.permutation(len(queries.features))
        n_val = round(config.val_fraction * len(order))
        self.val, self.train = np.sort(order[:n_val]), np.sort(order[n_val:])
        self.soft = soft_view_labels(self.grid, config.view_sigma_deg)
        self.pair_sigma = config.pair_sigma_deg
        # The backbone's own vectors for the validation baseline: unit features as they are; trainers on
        # other rows (models.finetune's activations) put the frozen network's pooled features here.
        self.backbone_embed = lambda rows: rows

    def _positives(self) -> np.ndarray:
        """For each query row, the clean row of its model nearest to its camera."""
        rows = np.zeros(len(self.queries.features), np.int64)
        for m in np.unique(self.queries.model):
            mine = np.flatnonzero(self.clean.model == m)
            if not len(mine):
                raise TrainingError(f"no clean index views of training model {self.queries.model_ids[m]}")
            asked = np.flatnonzero(self.queries.model == m)
            angles = angular_error_deg(self.queries.cameras[asked, None], self.clean.cameras[mine][None])
            rows[asked] = mine[angles.argmin(axis=1)]
        return rows

    def steps_per_epoch(self, batch_size: int) -> int:
        return max(1, len(self.train) // batch_size)

    def batch(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """Inputs (2b, d): queries then their clean positives; labels; (b, b) soft pair targets."""
        pos = self.positive[rows]
        features = np.concatenate([self.queries.features[rows], self.clean.features[pos]])
        model = np.concatenate([self.queries.model[rows], self.clean.model[pos]])
        view = np.concatenate([self.query_view[rows], self.clean_view[pos]])
        same = self.queries.model[rows][:, None] == self.clean.model[pos][None]
        angles = angular_error_deg(self.queries.cameras[rows][:, None], self.clean.cameras[pos][None])
        pairs = same * np.exp(-0.5 * (angles / self.pair_sigma) ** 2)
        return (features.astype(np.float32), model, self.model_kind[model], self.soft[view],
                (pairs / pairs.sum(axis=1, keepdims=True)).astype(np.float32))

    def val_metrics(self, model: keras.Model | None) -> dict:
        """Retrieval on the held-back queries against every clean view: top-1 model, and the view error
        of the nearest clean view when its model is right (model None: the raw backbone features)."""
        if not len(self.val):
            return {}
        embed = self.backbone_embed if model is None else (lambda x: embed_rows(model, x))
        q, c = embed(self.queries.features[self.val]), embed(self.clean.features)
        nearest = (q @ c.T).argmax(axis=1)
        right = self.clean.model[nearest] == self.queries.model[self.val]
        errors = angular_error_deg(self.clean.cameras[nearest], self.queries.cameras[self.val])[right]
        return {"queries": len(self.val), "top1": float(right.mean()),
                "view_error_median_deg_when_right": float(np.median(errors)) if len(errors) else float("nan")}


def embed_rows(model: keras.Model, rows: np.ndarray, batch: int = 256) -> np.ndarray:
    """The model's (n, e) "embedding" of (n, d) input rows (any float dtype), in batches of `batch`."""
    return np.concatenate([model(rows[i:i + batch].astype(np.float32), training=False)["embedding"].numpy()
                           for i in range(0, len(rows), batch)])


def _nearest(cameras: np.ndarray, grid: np.ndarray) -> np.ndarray:
    return angular_error_deg(np.asarray(cameras)[:, None], grid[None]).argmin(axis=1)


def _losses(outputs: dict, labels: tuple, config: AdapterTrainConfig, b: int) -> dict:
    model, kind, view, pairs = labels
    sparse = keras.losses.sparse_categorical_crossentropy
    embedding = outputs["embedding"]
    logits = tf.matmul(embedding[:b], embedding[b:], transpose_b=True) / config.temperature
    return {"model": tf.reduce_mean(sparse(model, outputs["model"], from_logits=True)),
            "kind": tf.reduce_mean(sparse(kind, outputs["kind"], from_logits=True)),
            "view": tf.reduce_mean(keras.losses.categorical_crossentropy(view, outputs["view"], from_logits=True)),
            "metric": tf.reduce_mean(keras.losses.categorical_crossentropy(pairs, logits, from_logits=True))}


def _fit(model: keras.Model, optimizer, data: _Data, config: AdapterTrainConfig, out_dir: Path,
         progress: bool) -> list[dict]:
    history = _read_progress(out_dir)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    manager = tf.train.CheckpointManager(checkpoint, str(out_dir / "checkpoint"), max_to_keep=1)
    if history and manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)
    elif history:
        raise TrainingError(f"{out_dir} has a training history but no checkpoint; delete it to start again")
    step = _train_step(model, optimizer, config)
    for epoch in range(len(history), config.epochs):
        if config.max_minutes is not None and sum(h["seconds"] for h in history) > 60 * config.max_minutes:
            break
        history.append(run_epoch(step, data, config, epoch))
        manager.save()
        _write_progress(out_dir, history)
        if progress:
            print(json.dumps(history[-1]), flush=True)
    return history


def run_epoch(step, data: _Data, config: AdapterTrainConfig, epoch: int) -> dict:
    """One pass over the training queries in a seeded order. Returns the epoch's mean losses."""
    began = time.time()
    rng = np.random.default_rng([config.seed, epoch])
    order = rng.permutation(data.train)
    sums: dict[str, float] = {}
    n = data.steps_per_epoch(config.batch_size)
    for i in range(n):
        rows = order[i * config.batch_size:(i + 1) * config.batch_size]
        features, *labels = data.batch(rows)
        losses = step(tf.constant(features), *(tf.constant(x) for x in labels))
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + float(v) / n
    return {"epoch": epoch + 1, "seconds": round(time.time() - began, 2), **{k: round(v, 5) for k, v in sums.items()}}


def _train_step(model: keras.Model, optimizer, config: AdapterTrainConfig):
    weights = config.loss_weights

    @tf.function(reduce_retracing=True)
    def step(features, model_label, kind_label, view_label, pairs):
        b = tf.shape(pairs)[0]
        with tf.GradientTape() as tape:
            outputs = model(features, training=True)
            losses = _losses(outputs, (model_label, kind_label, view_label, pairs), config, b)
            total = tf.add_n([weights[k] * v for k, v in losses.items()])
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return {"loss": total, **losses}

    return step


def _manifest(config: AdapterTrainConfig, data: _Data, history: list[dict], started: float, data_info: dict) -> dict:
    return {
        "kind": "lite0_adapter training run",
        "config": config.to_json(),
        "data": {**data_info, "models": len(data.queries.model_ids), "model_ids": data.queries.model_ids,
                 "seat_kinds": data.kinds, "grid_views": len(data.grid),
                 "query_images": len(data.train), "training_images": len(data.train) + len(data.clean.features),
                 "validation_queries": len(data.val),
                 "clean_views": len(data.clean.features)},
        "versions": installed_versions(VERSIONED),
        "epochs_done": len(history),
        "stopped_by_time_budget": len(history) < config.epochs,
        "history": history,
        "metrics": {"train": history[-1] if history else {}, "val_backbone_only": data.val_metrics(None)},
        "training_seconds": round(sum(h["seconds"] for h in history), 1),
        "seconds_this_run": round(time.time() - started, 1),
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _read_progress(out_dir: Path) -> list[dict]:
    path = out_dir / PROGRESS_FILE
    return json.loads(path.read_text())["history"] if path.exists() else []


def _write_progress(out_dir: Path, history: list[dict]) -> None:
    tmp = out_dir / f"{PROGRESS_FILE}.tmp"
    tmp.write_text(json.dumps({"history": history}, indent=1))
    tmp.replace(out_dir / PROGRESS_FILE)
