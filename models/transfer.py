"""Transfer embedder: pooled features of an ImageNet backbone layer, L2-normalised."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from models import efficientnet_lite, inception
from models.embedder import Embedder, EmbedderInfo, checked_images, forward_in_batches, l2_normalise, network_input
from models.weights import prepare_weights, sidecar_path

MAX_BATCH = 32
DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "data" / "weights"
DEFAULT_LAYERS = {"efficientnet_lite0": efficientnet_lite.HEAD_LAYER, "inception_v3": "mixed7"}
DEFAULT_SIZES = {"efficientnet_lite0": 224, "inception_v3": 299}
RANDOM = "random"
PREPROCESSING = {
    "efficientnet_lite0": "antialiased resize, (x - 127) / 128",
    "inception_v3": "antialiased resize, inception_v3.preprocess_input (x / 127.5 - 1)",
}


class EmbedderConfigError(ValueError):
    """Unknown backbone or layer, or weights that cannot be used."""


def _preprocess(backbone: str, x: tf.Tensor) -> tf.Tensor:
    """float32 RGB in [0, 255] -> what the backbone's weights were trained on."""
    if backbone == "efficientnet_lite0":
        return (x - efficientnet_lite.INPUT_MEAN) / efficientnet_lite.INPUT_STD
    return keras.applications.inception_v3.preprocess_input(x)  # [-1, 1]


def _checked(images: np.ndarray) -> np.ndarray:
    return checked_images(images, EmbedderConfigError)


def describe_weights(weights: str | Path, default: str) -> str:
    """Human description of a weights file, from its source sidecar when there is one."""
    sidecar = sidecar_path(Path(weights))
    if sidecar.exists():
        source = json.loads(sidecar.read_text())
        return f"{source['package']} {source['version']} ({source.get('training', '')})"
    return default


@dataclass(frozen=True)
class EmbedderSpec:
    """What rebuilds the same TransferEmbedder in another process (a Ray worker): small, picklable,
    hashable. weights: an absolute weights file path, "random" or "imagenet" (Inception download)."""

    backbone: str
    layer: str
    weights: str
    input_size_px: int
    seed: int = 0

    def build(self) -> TransferEmbedder:
        return TransferEmbedder(**asdict(self))


class TransferEmbedder:
    """Embeds (n, H, W, 3) uint8 RGB images as (n, d) float32 unit vectors. Thread-safe `embed`.

    backbone: "efficientnet_lite0" or "inception_v3". layer: the layer whose activation is
    global-average-pooled (defaults: Lite0 head activation, 1280-d; Inception 'mixed7', 768-d).
    weights: a Keras weights file, "random" (seeded random init), "imagenet" (Inception, Keras
    download) or None (prepared into DEFAULT_WEIGHTS_DIR without network, see models.weights).
    `spec` rebuilds this embedder elsewhere.
    """

    def __init__(
        self,
        backbone: str = "efficientnet_lite0",
        layer: str | None = None,
        weights: str | Path | None = None,
        input_size_px: int | None = None,
        seed: int = 0,
    ) -> None:
        if backbone not in DEFAULT_LAYERS:
            raise EmbedderConfigError(f"unknown backbone {backbone!r}; expected {list(DEFAULT_LAYERS)}")
        self._backbone = backbone
        self._size = int(input_size_px or DEFAULT_SIZES[backbone])
        layer = layer or DEFAULT_LAYERS[backbone]
        model, description, used = self._build(weights, seed)
        self.spec = EmbedderSpec(backbone, layer, used, self._size, seed)
        try:
            features = model.get_layer(layer).output
        except ValueError as error:
            raise EmbedderConfigError(f"{backbone} has no layer {layer!r}") from error
        self._model = keras.Model(model.input, features)
        self._lock = threading.Lock()
        self._embed_batch = tf.function(
            self._forward, input_signature=[tf.TensorSpec((None, self._size, self._size, 3), tf.float32)]
        )
        self._resize = tf.function(
            self._resize_images, input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8)]
        )
        self.info = EmbedderInfo(
            name=backbone, layer=layer, input_size_px=self._size, dim=int(features.shape[-1]),
            weights=description,
            extra={"pooling": "global average", "preprocessing": PREPROCESSING[backbone]},
        )

    def _build(self, weights: str | Path | None, seed: int) -> tuple[keras.Model, str, str]:
        """The full backbone with its weights loaded, a description of them, and the `weights` argument
        that loads the same ones again (absolute file path, "random" or "imagenet")."""
        if weights == RANDOM:
            keras.utils.set_random_seed(seed)  # reproducible random baseline
        if self._backbone == "efficientnet_lite0":
            return self._build_lite0(weights)
        if weights == RANDOM:
            return inception.build_inception_v3(None, self._size), f"random init (seed {seed})", RANDOM
        if weights is None or weights == "imagenet":
            path, description = inception.resolve_inception_weights(
                None, allow_download=weights == "imagenet", weights_dir=DEFAULT_WEIGHTS_DIR
            )
        else:
            path, description = inception.resolve_inception_weights(Path(weights), allow_download=False)
            description = describe_weights(path, description)
        used = path if path == "imagenet" else str(Path(path).resolve())
        return inception.build_inception_v3(path, self._size), description, used

    def _build_lite0(self, weights: str | Path | None) -> tuple[keras.Model, str, str]:
        model = efficientnet_lite.build_efficientnet_lite0(include_top=True, input_size_px=self._size)
        if weights == RANDOM:
            return model, "random init", RANDOM
        if weights == "imagenet":
            raise EmbedderConfigError("efficientnet_lite0 has no Keras download; pass a weights file or None")
        path = Path(weights) if weights is not None else prepare_weights(
            "efficientnet_lite0", DEFAULT_WEIGHTS_DIR, progress=False
        )
        if not path.exists():
            raise EmbedderConfigError(f"weights file not found: {path}")
        model.load_weights(path)
        return model, describe_weights(path, f"Keras weights file {path.name}"), str(path.resolve())

    def _resize_images(self, images: tf.Tensor) -> tf.Tensor:
        return tf.image.resize(tf.cast(images, tf.float32), (self._size, self._size), antialias=True)

    def _forward(self, images: tf.Tensor) -> tf.Tensor:
        """(n, S, S, 3) float32 in [0, 255] -> (n, d) pooled features (not yet normalised)."""
        features = self._model(_preprocess(self._backbone, images), training=False)
        return tf.reduce_mean(features, axis=(1, 2))

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """images: (n, H, W, 3) uint8 RGB, any H, W. Returns (n, S, S, 3) float32 in [0, 255], S =
        info.input_size_px: the resized network input, for `embed_prepared` (possibly stacked with others)."""
        return network_input(_checked(images), self._size, lambda x: self._resize(tf.constant(x)).numpy())

    def embed_prepared(self, inputs: np.ndarray) -> np.ndarray:
        """inputs: (n, S, S, 3) float32 from `prepare`. Returns (n, info.dim) float32, rows L2-normalised."""
        with self._lock:
            return forward_in_batches(lambda x: self._embed_batch(tf.constant(x)).numpy(), inputs, self.info.dim,
                                      MAX_BATCH)

    def embed(self, images: np.ndarray) -> np.ndarray:
        """images: (n, H, W, 3) uint8 RGB. Returns (n, info.dim) float32, rows L2-normalised."""
        images = _checked(images)
        if len(images) == 0:
            return np.zeros((0, self.info.dim), np.float32)
        chunks = []
        with self._lock:
            for start in range(0, len(images), MAX_BATCH):
                resized = self.prepare(images[start : start + MAX_BATCH])
                chunks.append(self._embed_batch(tf.constant(resized)).numpy())
        return l2_normalise(np.concatenate(chunks))


def build_embedder(name: str, weights_dir: Path, **kw) -> Embedder:
    """Factory: 'efficientnet_lite0' or 'inception_v3' with weights prepared in weights_dir.

    kw go to TransferEmbedder (layer, input_size_px, weights="random", ...); allow_download=True
    lets Inception use Keras' own ImageNet download.
    """
    if name not in DEFAULT_LAYERS:
        raise EmbedderConfigError(f"unknown embedder {name!r}; expected one of {list(DEFAULT_LAYERS)}")
    allow_download = kw.pop("allow_download", False)
    if "weights" not in kw:
        kw["weights"] = prepare_weights(name, Path(weights_dir), allow_download, progress=False)
    return TransferEmbedder(name, **kw)
