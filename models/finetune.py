"""Fine-tuning EfficientNet-Lite0's top blocks for photo-to-render matching, on cached trunk activations.

ImageNet Lite0 is cut before block `first_block` (models.efficientnet_lite.split_lite0; 11 at 224 px: the
input of the last stride-2 stage, (14, 14, 112)). The frozen trunk's activations, flattened and stored as
float16, of randomised renders (models.adapter_features with normalise=False) and of an index's stored
clean views (its JPEGs, `clean_activations`) are computed once and cached. The top blocks (batch norm kept
at its ImageNet statistics), global average pooling, L2 normalisation and the adapter's embedding and heads
(models.adapter.build_adapter) are then trained with models.train_adapter's batches, losses (model, kind,
soft view, InfoNCE towards clean views of the same model and nearby cameras), checkpoints and manifest.
A trained network is a folder: `finetune.weights.h5` and `config.json` (an AdapterConfig whose `extra`
holds first_block and the manifest); `load_finetuned` rebuilds trunk and network from it, and
models.finetuned.FinetunedEmbedder (the `lite0_finetuned` embedder) serves it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from models import efficientnet_lite
from models.adapter import AdapterConfig
from models.adapter_features import QueryFeatures
from models.finetuned import CONFIG_FILE, WEIGHTS_FILE, build_finetune_model, lite0_split, pooled_output
from models.model_folder import missing_model_files, write_model_folder
from models.train import TrainingError, check_resume
from models.train_adapter import (
    MANIFEST_FILE,
    AdapterTrainConfig,
    CleanViews,
    _Data,
    embed_rows,
    fit_and_report,
    select_queries,
)

BATCH = 32  # trunk forward passes (memory: 32 x 112 x 112 x 96 float32 activations at 224 px)


@dataclass
class FinetuneConfig(AdapterTrainConfig):
    """AdapterTrainConfig's training settings (lower rate, fewer epochs: pretrained convolutions move)
    plus where Lite0 is cut; train_top False keeps the top frozen too (the control: only the adapter's
    embedding and heads learn, on exactly the same data)."""

    first_block: int = 11
    train_top: bool = True
    epochs: int = 8
    batch_size: int = 64
    learning_rate: float = 5e-4


class Trunk:
    """The frozen Lite0 below first_block, as a models.adapter_features backbone: `embed_prepared`
    answers (n, h * w * c) float32 flattened activations of (n, S, S, 3) float32 images in [0, 255]."""

    def __init__(self, model: keras.Model, first_block: int) -> None:
        self.first_block = first_block
        self.shape = tuple(int(v) for v in model.output.shape[1:])
        self.input_size_px = int(model.input.shape[1])
        self._forward = tf.function(lambda x: tf.reshape(model(_normalised(x), training=False), (tf.shape(x)[0], -1)))

    def embed_prepared(self, inputs: np.ndarray) -> np.ndarray:
        inputs = np.asarray(inputs, np.float32)
        return np.concatenate([self._forward(tf.constant(inputs[i:i + BATCH])).numpy()
                               for i in range(0, len(inputs), BATCH)] or [np.zeros((0, int(np.prod(self.shape))))])


def _normalised(images: tf.Tensor) -> tf.Tensor:
    return (images - efficientnet_lite.INPUT_MEAN) / efficientnet_lite.INPUT_STD


def lite0_parts(weights: Path | None, first_block: int, input_size_px: int = 224) -> tuple[Trunk, keras.Model]:
    """Lite0 with the Keras weights file `weights` (None: random init, for tests) cut before first_block:
    the frozen Trunk and the top ((n, h, w, c) -> (n, S/32, S/32, 1280), a trainable copy)."""
    trunk, top = lite0_split(weights, first_block, input_size_px)
    return Trunk(trunk, first_block), top


def pooled_features(top: keras.Model):
    """A function (n, h * w * c) rows -> (n, 1280) unit pooled features of a frozen copy of `top` (with
    the ImageNet top: exactly the efficientnet_lite0 embedder's vectors, the validation baseline)."""
    frozen = keras.models.clone_model(top)
    frozen.set_weights(top.get_weights())
    shape = tuple(int(v) for v in top.input.shape[1:])
    inputs = keras.Input((int(np.prod(shape)),))
    model = keras.Model(inputs, {"embedding": pooled_output(frozen, keras.layers.Reshape(shape)(inputs))})
    return lambda rows: embed_rows(model, rows)


def train_finetune(queries: QueryFeatures, clean: CleanViews, seat_kinds: list[str], grid: np.ndarray,
                   top: keras.Model, out_dir: Path, config: FinetuneConfig, data_info: dict | None = None,
                   progress: bool = True) -> dict:
    """Train top + heads into out_dir (resumable; see the module). queries / clean: flattened trunk
    activations of `top`'s input shape; seat_kinds: one per queries.model_ids; grid: (v, 3) the index's
    view cameras. Returns the manifest (validation: randomised renders against clean views)."""
    started = time.time()
    if queries.features.shape[1] != np.prod(top.input.shape[1:]):
        raise TrainingError(f"activations of width {queries.features.shape[1]} do not fit the top's input "
                            f"{tuple(top.input.shape[1:])}")
    out_dir.mkdir(parents=True, exist_ok=True)
    check_resume(out_dir, config, data_info or {})
    data = _Data(select_queries(queries, config), clean, seat_kinds, grid, config)
    data.backbone_embed = pooled_features(top)
    adapter = AdapterConfig(queries.model_ids, data.kinds, len(grid), efficientnet_lite.HEAD_CHANNELS,
                            config.hidden_dim, config.embedding_dim, config.dropout, queries.input_size_px,
                            extra={"first_block": config.first_block})
    keras.utils.set_random_seed(config.seed)
    model = build_finetune_model(top, adapter)
    if not config.train_top:
        top.trainable = False
    manifest = fit_and_report(model, data, config, out_dir, data_info or {}, started, progress)
    manifest["kind"] = "lite0 top-block fine-tuning run"
    adapter.extra["manifest"] = manifest
    write_model_folder(model, adapter, out_dir, WEIGHTS_FILE, CONFIG_FILE)
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(out_dir / "checkpoint", ignore_errors=True)
    return manifest


def load_finetuned(folder: Path, weights: Path | None) -> tuple[Trunk, keras.Model, AdapterConfig]:
    """The trunk (Lite0 weights file `weights`), the trained network and its config from a train_finetune
    folder."""
    if missing_model_files(folder, CONFIG_FILE, WEIGHTS_FILE):
        raise TrainingError(f"no fine-tuned network in {folder} (need {CONFIG_FILE} and {WEIGHTS_FILE})")
    config = AdapterConfig.load(folder / CONFIG_FILE)
    trunk, top = lite0_parts(weights, config.extra["first_block"], config.input_size_px)
    model = build_finetune_model(top, config)
    model.load_weights(folder / WEIGHTS_FILE)
    return trunk, model, config


@dataclass
class CleanActivations:
    """Trunk activations of an index's stored views: features (m, h * w * c) float16, model_ids (m,)
    object, cameras (m, 3) unit vectors, in the index's view order."""

    features: np.ndarray
    model_ids: np.ndarray
    cameras: np.ndarray

    def for_models(self, model_ids: list[str]) -> CleanViews:
        """The rows of `model_ids` as train_adapter's CleanViews (model: index into model_ids)."""
        position = {m: i for i, m in enumerate(model_ids)}
        keep = np.array([m in position for m in self.model_ids], bool)
        missing = set(model_ids) - set(self.model_ids[keep])
        if missing:
            raise TrainingError(f"no clean views of {len(missing)} training models, e.g. {min(missing)}")
        return CleanViews(self.features[keep], np.array([position[m] for m in self.model_ids[keep]]),
                          self.cameras[keep])


def clean_activations(index_dir: Path, table, trunk: Trunk, cache_dir: Path,
                      progress: bool = True) -> CleanActivations:
    """Trunk activations of the stored view images of index_dir (table: its store's ViewTable), cached
    per model in cache_dir (named by the model, its image paths and the cut: an interrupted run keeps
    the models done)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    models = list(dict.fromkeys(table.model_ids))
    features = np.zeros((len(table.model_ids), int(np.prod(trunk.shape))), np.float16)
    for model_id in tqdm(models, unit="model", desc="clean view activations", disable=not progress):
        rows = np.flatnonzero(table.model_ids == model_id)
        paths = [index_dir / p for p in table.image_paths[rows]]
        key = hashlib.sha256(repr([model_id, [str(p) for p in paths], trunk.first_block,
                                   trunk.input_size_px]).encode()).hexdigest()[:16]
        path = cache_dir / f"{key}.npy"
        if not path.exists():
            np.save(cache_dir / f"{key}.tmp.npy", trunk.embed_prepared(_read_views(paths, trunk.input_size_px))
                    .astype(np.float16))
            (cache_dir / f"{key}.tmp.npy").replace(path)
        features[rows] = np.load(path)
    return CleanActivations(features, np.asarray(table.model_ids, object), table.cameras)


def _read_views(paths: list[Path], size_px: int) -> np.ndarray:
    """(n, size_px, size_px, 3) float32 in [0, 255] (antialiased resize, as the embedders prepare)."""
    images = [tf.io.decode_image(tf.io.read_file(str(p)), channels=3, expand_animations=False) for p in paths]
    return np.stack([tf.image.resize(tf.cast(i, tf.float32), (size_px, size_px), antialias=True).numpy()
                     for i in images])
