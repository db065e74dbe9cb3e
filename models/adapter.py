"""Lite0 adapter: a small network trained on frozen EfficientNet-Lite0 features for photo-to-render matching.

The backbone (ImageNet EfficientNet-Lite0, pooled head activation, L2-normalised: exactly what the
`efficientnet_lite0` embedder answers) stays frozen; the adapter maps its (n, 1280) unit vectors to an
(n, embedding_dim) embedding through one hidden layer. Training heads (models.train_adapter) read the
L2-normalised embedding with a learnt scale (cosine classifiers): model identity, seat kind and
viewpoint over the view grid, so the seat-kind head is a linear map of the very vector the index
stores and the service can apply it to a query vector (`kind_head`).

A trained adapter is a folder: `adapter.weights.h5` plus `config.json` (architecture, labels, training
manifest); `AdapterEmbedder(folder, backbone)` loads it for inference.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from models.embedder import EmbedderInfo, checked_images, l2_normalise
from models.model_folder import missing_model_files, write_model_folder

NAME = "lite0_adapter"
BACKBONE = "efficientnet_lite0"
WEIGHTS_FILE = "adapter.weights.h5"
CONFIG_FILE = "config.json"
HEADS = ("model", "kind", "view")


class AdapterModelError(ValueError):
    """An adapter folder that is missing, incomplete or does not fit its backbone."""


@dataclass
class AdapterConfig:
    """Architecture and labels. feature_dim: backbone feature width (1280 for Lite0); hidden_dim,
    embedding_dim: adapter widths; input_size_px: the backbone's input side; model_ids / seat_kinds /
    n_views: classes of the training heads; extra: the training manifest."""

    model_ids: list[str]
    seat_kinds: list[str]
    n_views: int
    feature_dim: int = 1280
    hidden_dim: int = 512
    embedding_dim: int = 256
    dropout: float = 0.1
    input_size_px: int = 224
    extra: dict = field(default_factory=dict)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> AdapterConfig:
        return cls(**json.loads(Path(path).read_text()))


class _CosineHead(keras.layers.Layer):
    """Logits = scale * (unit embedding @ W + b), with a learnt scale (starts at 10)."""

    def __init__(self, classes: int, **kw) -> None:
        super().__init__(**kw)
        self.dense = keras.layers.Dense(classes)
        self.classes = classes

    def build(self, input_shape) -> None:
        self.dense.build(input_shape)
        self.log_scale = self.add_weight(shape=(), initializer=keras.initializers.Constant(np.log(10.0)),
                                         name="log_scale")

    def call(self, unit: tf.Tensor) -> tf.Tensor:
        return tf.exp(self.log_scale) * self.dense(unit)


def build_adapter(config: AdapterConfig) -> keras.Model:
    """(n, feature_dim) float32 unit features -> {"embedding": (n, embedding_dim) unit vectors,
    "model", "kind", "view": logits}."""
    inputs = keras.Input((config.feature_dim,), name="features")
    x = keras.layers.Dense(config.hidden_dim, activation="relu", name="hidden")(inputs)
    x = keras.layers.Dropout(config.dropout, name="dropout")(x)
    x = keras.layers.Dense(config.embedding_dim, name="embedding_dense")(x)
    unit = keras.layers.UnitNormalization(name="embedding")(x)
    sizes = {"model": len(config.model_ids), "kind": len(config.seat_kinds), "view": config.n_views}
    outputs = {"embedding": unit, **{h: _CosineHead(n, name=h)(unit) for h, n in sizes.items()}}
    return keras.Model(inputs, outputs, name=NAME)


def save_adapter(model: keras.Model, config: AdapterConfig, folder: Path) -> None:
    """Weights then config (a folder with a config is complete), each written atomically."""
    write_model_folder(model, config, folder, WEIGHTS_FILE, CONFIG_FILE)


def load_adapter(folder: Path) -> tuple[keras.Model, AdapterConfig]:
    folder = Path(folder)
    if missing_model_files(folder, CONFIG_FILE, WEIGHTS_FILE):
        raise AdapterModelError(f"no trained {NAME} in {folder} (need {CONFIG_FILE} and {WEIGHTS_FILE}; "
                                "run `photo2cad train-adapter`)")
    config = AdapterConfig.load(folder / CONFIG_FILE)
    model = build_adapter(config)
    model.load_weights(folder / WEIGHTS_FILE)
    return model, config


@dataclass(frozen=True)
class AdapterSpec:
    """What rebuilds the same AdapterEmbedder in another process (a Ray worker)."""

    folder: str
    backbone_weights: str

    def build(self) -> AdapterEmbedder:
        from models.transfer import TransferEmbedder

        return AdapterEmbedder(Path(self.folder), TransferEmbedder(BACKBONE, weights=self.backbone_weights))


class AdapterEmbedder:
    """Embeds (n, H, W, 3) uint8 RGB as (n, embedding_dim) float32 unit vectors: the adapter applied
    to the frozen backbone's unit features. backbone: a models.transfer.TransferEmbedder of Lite0 (or
    anything with its prepare / embed_prepared / info). Thread-safe `embed`."""

    def __init__(self, folder: Path, backbone) -> None:
        model, self.config = load_adapter(folder)
        if backbone.info.dim != self.config.feature_dim or backbone.info.input_size_px != self.config.input_size_px:
            raise AdapterModelError(f"adapter in {folder} wants {self.config.feature_dim}-d features at "
                                    f"{self.config.input_size_px} px; the backbone gives {backbone.info.dim}-d "
                                    f"at {backbone.info.input_size_px} px")
        self.backbone = backbone
        self._model = model
        self._lock = threading.Lock()
        self._forward = tf.function(lambda x: self._model(x, training=False),
                                    input_signature=[tf.TensorSpec((None, self.config.feature_dim), tf.float32)])
        self.spec = AdapterSpec(str(Path(folder).resolve()), getattr(backbone, "spec", None) and backbone.spec.weights)
        manifest = self.config.extra.get("manifest", {})
        self.info = EmbedderInfo(
            name=NAME, layer="embedding", input_size_px=self.config.input_size_px, dim=self.config.embedding_dim,
            weights=f"adapter trained by photo2cad train-adapter ({manifest.get('finished', 'unknown date')}, "
                    f"{len(self.config.model_ids)} models, sha256 {_short_hash(Path(folder) / WEIGHTS_FILE)}) "
                    f"on {backbone.info.weights}",
            extra={"backbone": f"{backbone.info.name}/{backbone.info.layer}, frozen",
                   "preprocessing": backbone.info.extra.get("preprocessing", ""), "folder": str(folder)},
        )

    def adapt(self, features: np.ndarray) -> np.ndarray:
        """features: (n, feature_dim) float32 backbone unit vectors -> (n, embedding_dim) unit vectors."""
        features = np.asarray(features, np.float32)
        if len(features) == 0:
            return np.zeros((0, self.info.dim), np.float32)
        with self._lock:
            out = self._forward(tf.constant(features))["embedding"].numpy()
        return l2_normalise(out)

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """images: (n, H, W, 3) uint8 -> (n, S, S, 3) float32 backbone input (see TransferEmbedder.prepare)."""
        return self.backbone.prepare(checked_images(images, AdapterModelError))

    def embed_prepared(self, inputs: np.ndarray) -> np.ndarray:
        """inputs: (n, S, S, 3) float32 from `prepare`. Returns (n, dim) float32, rows L2-normalised."""
        return self.adapt(self.backbone.embed_prepared(inputs))

    def embed(self, images: np.ndarray) -> np.ndarray:
        """images: (n, H, W, 3) uint8 RGB. Returns (n, dim) float32, rows L2-normalised."""
        return self.adapt(self.backbone.embed(checked_images(images, AdapterModelError)))

    def kind_head(self) -> tuple[tuple[str, ...], np.ndarray, float]:
        """The seat-kind head as (kinds, weights (dim + 1, k) float32 with the bias last, temperature):
        softmax((unit embedding @ W[:-1] + W[-1]) / temperature) are its probabilities."""
        return (tuple(self.config.seat_kinds), *linear_head(self._model, "kind"))

    def view_head(self) -> tuple[np.ndarray, float]:
        """The viewpoint head over the n_views cameras of the index grid it was trained on (in
        index.build.view_cameras order) as (weights (dim + 1, n_views) float32, temperature), like kind_head."""
        return linear_head(self._model, "view")


def linear_head(adapter: keras.Model, name: str) -> tuple[np.ndarray, float]:
    """Head `name` of a build_adapter model as (weights (embedding_dim + 1, classes) float32 with the bias
    last, temperature): softmax((unit embedding @ W[:-1] + W[-1]) / temperature) are its probabilities."""
    head = adapter.get_layer(name)
    kernel, bias = (np.asarray(w) for w in head.dense.get_weights())
    temperature = float(np.exp(-np.asarray(head.log_scale)))
    return np.vstack([kernel, bias[None]]).astype(np.float32), temperature


def _short_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
