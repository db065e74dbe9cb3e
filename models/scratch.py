"""From-scratch CNN: conv/batch-norm/ReLU/pooling blocks trained on the renders with three heads.

Heads (training only): model identity (softmax over the training models), seat kind (softmax over the
kinds) and viewpoint (softmax over the view grid's cameras, trained with soft labels). The viewpoint is
a classification over the grid rather than a regressed unit vector because many seats are symmetric:
a stool seen from the front and from the back look alike, and a regressed vector would average the two
answers into a camera nobody asked for, where a softmax keeps both. The embedding the index stores is
the penultimate layer (a 256-d dense layer after global pooling), L2-normalised: the identity head
makes it tell models apart, the viewpoint head keeps the view in it (which pose retrieval needs).

A trained model is a folder: `model.weights.h5` plus `config.json` (architecture, labels, training
manifest); `ScratchEmbedder(folder)` loads it for inference.
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

from models.embedder import EmbedderInfo, checked_images, l2_normalise, network_input
from models.model_folder import missing_model_files, write_model_folder

NAME = "scratch_cnn"
EMBEDDING_LAYER = "embedding"
WEIGHTS_FILE = "model.weights.h5"
CONFIG_FILE = "config.json"
MAX_BATCH = 64
DEFAULT_WIDTHS = (32, 64, 96, 128, 256, 384)


class ScratchModelError(ValueError):
    """A model folder that is missing, incomplete or inconsistent."""


@dataclass
class ScratchConfig:
    """Architecture and labels of a from-scratch CNN.

    input_size_px: square input side. widths: output channels of the conv blocks; the first two blocks
    downsample by stride 2, every later block ends in 2x2 max pooling. embedding_dim: penultimate width.
    model_ids / seat_kinds: the class labels of the identity and kind heads; n_views: viewpoint classes.
    """

    model_ids: list[str]
    seat_kinds: list[str]
    n_views: int
    input_size_px: int = 128
    widths: tuple[int, ...] = DEFAULT_WIDTHS
    embedding_dim: int = 256
    dropout: float = 0.2
    extra: dict = field(default_factory=dict)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> ScratchConfig:
        raw = json.loads(Path(path).read_text())
        return cls(**{**raw, "widths": tuple(raw["widths"])})


def build_scratch_cnn(config: ScratchConfig) -> keras.Model:
    """The training network: input (n, S, S, 3) float32 in [0, 255] -> {"model", "kind", "view"} logits.
    The layer named EMBEDDING_LAYER is the (n, embedding_dim) penultimate output."""
    size = config.input_size_px
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")(inputs)  # [0, 255] -> [-1, 1]
    for i, width in enumerate(config.widths):
        x = _conv_block(x, width, stride=2 if i < 2 else 1, name=f"block{i + 1}")
        if i >= 2:
            x = keras.layers.MaxPooling2D(2, name=f"block{i + 1}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(config.embedding_dim, name="embedding_dense")(x)
    embedding = keras.layers.BatchNormalization(name=EMBEDDING_LAYER)(x)
    hidden = keras.layers.Dropout(config.dropout, name="dropout")(keras.layers.ReLU(name="embedding_relu")(embedding))
    outputs = {
        "model": keras.layers.Dense(len(config.model_ids), name="model")(hidden),
        "kind": keras.layers.Dense(len(config.seat_kinds), name="kind")(hidden),
        "view": keras.layers.Dense(config.n_views, name="view")(hidden),
    }
    return keras.Model(inputs, outputs, name=NAME)


def _conv_block(x: tf.Tensor, width: int, stride: int, name: str) -> tf.Tensor:
    x = keras.layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def save_model(model: keras.Model, config: ScratchConfig, folder: Path) -> None:
    """Write weights then config (the config last: a folder with a config is complete). Atomic per file."""
    bare = build_scratch_cnn(config)  # not compiled: Keras would also save the optimizer state (3x the size)
    bare.set_weights(model.get_weights())
    write_model_folder(bare, config, folder, WEIGHTS_FILE, CONFIG_FILE)


def load_model(folder: Path) -> tuple[keras.Model, ScratchConfig]:
    """The training network with its weights, and its config."""
    folder = Path(folder)
    if missing_model_files(folder, CONFIG_FILE, WEIGHTS_FILE):
        raise ScratchModelError(f"no trained {NAME} in {folder} (need {CONFIG_FILE} and {WEIGHTS_FILE}; "
                                f"run `photo2cad train`)")
    config = ScratchConfig.load(folder / CONFIG_FILE)
    model = build_scratch_cnn(config)
    model.load_weights(folder / WEIGHTS_FILE)
    return model, config


@dataclass(frozen=True)
class ScratchSpec:
    """What rebuilds the same ScratchEmbedder in another process (a Ray worker): the model folder."""

    folder: str

    def build(self) -> ScratchEmbedder:
        return ScratchEmbedder(Path(self.folder))


class ScratchEmbedder:
    """Embeds (n, H, W, 3) uint8 RGB as (n, embedding_dim) float32 unit vectors; thread-safe `embed`.

    Also exposes the heads for one batch (`predict_heads`), e.g. seat-kind probabilities; `spec`
    rebuilds it elsewhere.
    """

    def __init__(self, folder: Path) -> None:
        self.spec = ScratchSpec(str(Path(folder).resolve()))
        model, self.config = load_model(folder)
        size = self.config.input_size_px
        self._model = keras.Model(model.input, [model.get_layer(EMBEDDING_LAYER).output, model.output])
        self._lock = threading.Lock()
        self._resize = tf.function(
            lambda images: tf.image.resize(tf.cast(images, tf.float32), (size, size), antialias=True),
            input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8)])
        self._forward = tf.function(lambda inputs: self._model(inputs, training=False),
                                    input_signature=[tf.TensorSpec((None, size, size, 3), tf.float32)])
        manifest = self.config.extra.get("manifest", {})
        self.info = EmbedderInfo(
            name=NAME, layer=EMBEDDING_LAYER, input_size_px=size, dim=self.config.embedding_dim,
            weights=f"trained by photo2cad train ({manifest.get('finished', 'unknown date')}, "
                    f"{len(self.config.model_ids)} models, sha256 {_short_hash(Path(folder) / WEIGHTS_FILE)})",
            extra={"pooling": "global average + dense + batch norm",
                   "preprocessing": "antialiased resize, x / 127.5 - 1", "folder": str(folder)},
        )

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """images: (n, H, W, 3) uint8 RGB, any H, W. Returns (n, S, S, 3) float32 in [0, 255], the
        resized network input for `embed_prepared` (possibly stacked with other requests' inputs)."""
        return network_input(checked_images(images, ScratchModelError), self.config.input_size_px,
                             lambda x: self._resize(tf.constant(x)).numpy())

    def _run(self, inputs: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """inputs (n, S, S, 3) float32 -> raw embeddings (n, dim) and head logits."""
        embeddings, heads = [], []
        with self._lock:
            for start in range(0, len(inputs), MAX_BATCH):
                embedding, head = self._forward(tf.constant(inputs[start : start + MAX_BATCH]))
                embeddings.append(embedding.numpy())
                heads.append({k: v.numpy() for k, v in head.items()})
        return np.concatenate(embeddings), {k: np.concatenate([h[k] for h in heads]) for k in heads[0]}

    def embed_prepared(self, inputs: np.ndarray) -> np.ndarray:
        """inputs: (n, S, S, 3) float32 from `prepare`. Returns (n, dim) float32, rows L2-normalised."""
        inputs = np.asarray(inputs, np.float32)
        if len(inputs) == 0:
            return np.zeros((0, self.info.dim), np.float32)
        return l2_normalise(self._run(inputs)[0])

    def embed(self, images: np.ndarray) -> np.ndarray:
        """images: (n, H, W, 3) uint8 RGB. Returns (n, dim) float32, rows L2-normalised."""
        return self.embed_prepared(self.prepare(images))

    def predict_heads(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Softmax probabilities of each head: {"model": (n, models), "kind": (n, kinds), "view": (n, views)}."""
        _, heads = self._run(self.prepare(images))
        return {k: _softmax(v) for k, v in heads.items()}


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _short_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
