"""The `lite0_finetuned` embedder: ImageNet EfficientNet-Lite0 whose top blocks were fine-tuned for
photo-to-render matching (models.finetune trains it), followed by the adapter's embedding and heads.

ImageNet Lite0 below block `first_block` stays as shipped (the efficientnet-lite0 registry weights); blocks
first_block..15 and the head conv (batch norm at its ImageNet statistics), global average pooling, L2
normalisation and models.adapter.build_adapter's embedding come from a trained folder: `finetune.weights.h5`
plus `config.json` (an AdapterConfig whose `extra` holds first_block and the training manifest). Its
seat-kind and viewpoint heads read the very vector the index stores (`kind_head`, `view_head`).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from models import efficientnet_lite
from models.adapter import NAME as ADAPTER_LAYER
from models.adapter import AdapterConfig, build_adapter, linear_head
from models.embedder import EmbedderInfo, checked_images, forward_in_batches, network_input
from models.model_folder import missing_model_files
from models.trunk_classifier import ActivationCache, TrunkImagenetClassifier

NAME = "lite0_finetuned"
WEIGHTS_FILE = "finetune.weights.h5"
CONFIG_FILE = "config.json"
MAX_BATCH = 32  # images per forward pass (memory: 32 x 112 x 112 x 96 float32 activations at 224 px)


class FinetunedModelError(ValueError):
    """A fine-tuned folder that is missing or incomplete, or images of the wrong shape."""


def lite0_split(weights: Path | None, first_block: int, input_size_px: int = 224) -> tuple[keras.Model, keras.Model]:
    """Lite0 with the Keras weights file `weights` (None: random init, for tests) cut before first_block:
    the trunk ((n, S, S, 3) normalised images -> (n, h, w, c)) and a copy of the top ((n, h, w, c) ->
    (n, S/32, S/32, 1280) head activation); efficientnet_lite.split_lite0."""
    full = efficientnet_lite.build_efficientnet_lite0(include_top=True, input_size_px=input_size_px)
    if weights is not None:
        full.load_weights(weights)
    return efficientnet_lite.split_lite0(full, first_block)


def build_finetune_model(top: keras.Model, adapter: AdapterConfig) -> keras.Model:
    """(n, h * w * c) flattened trunk activations -> build_adapter's outputs ("embedding" and head logits)
    through `top` (batch norm frozen), global average pooling and L2 normalisation."""
    for layer in top.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False  # a non-trainable BatchNormalization runs with its ImageNet statistics
    shape = tuple(int(v) for v in top.input.shape[1:])
    inputs = keras.Input((int(np.prod(shape)),), name="activation")
    pooled = pooled_output(top, keras.layers.Reshape(shape)(inputs))
    return keras.Model(inputs, build_adapter(adapter)(pooled), name="lite0_finetune")


def pooled_output(top: keras.Model, x):
    """Unit global-average-pooled head activation of `top` on the symbolic activations x."""
    x = keras.layers.GlobalAveragePooling2D()(top(x))
    return keras.layers.UnitNormalization(name="pooled")(x)


@dataclass(frozen=True)
class FinetunedSpec:
    """What rebuilds the same FinetunedEmbedder in another process (a Ray worker)."""

    folder: str
    lite0_weights: str

    def build(self) -> FinetunedEmbedder:
        return FinetunedEmbedder(Path(self.folder), Path(self.lite0_weights))


class FinetunedEmbedder:
    """Embeds (n, H, W, 3) uint8 RGB as (n, embedding_dim) float32 unit vectors through the trunk (ImageNet
    weights file `lite0_weights`) and the trained network of `folder`. Thread-safe `embed`."""

    def __init__(self, folder: Path, lite0_weights: Path, lite0_description: str = "ImageNet Lite0") -> None:
        folder = Path(folder)
        if missing_model_files(folder, CONFIG_FILE, WEIGHTS_FILE):
            raise FinetunedModelError(f"no fine-tuned {NAME} in {folder} (need {CONFIG_FILE} and {WEIGHTS_FILE}; "
                                      "run `photo2cad train-finetune`)")
        self.config = AdapterConfig.load(folder / CONFIG_FILE)
        self._size = self.config.input_size_px
        trunk, top = lite0_split(lite0_weights, int(self.config.extra["first_block"]), self._size)
        network = build_finetune_model(top, self.config)
        network.load_weights(folder / WEIGHTS_FILE)
        self._trunk, self._network, self._lock = trunk, network, threading.Lock()
        self._imagenet: TrunkImagenetClassifier | None = None
        self._activations = ActivationCache()
        self._adapter = network.get_layer(ADAPTER_LAYER)
        signature = [tf.TensorSpec((None, self._size, self._size, 3), tf.float32)]
        self._embed_batch = tf.function(self._forward, input_signature=signature)
        self._trunk_batch = tf.function(self._trunk_forward, input_signature=signature)
        self._resize = tf.function(lambda x: tf.image.resize(tf.cast(x, tf.float32), (self._size, self._size),
                                                             antialias=True),
                                   input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8)])
        self.spec = FinetunedSpec(str(folder.resolve()), str(Path(lite0_weights).resolve()))
        manifest = self.config.extra.get("manifest", {})
        self.info = EmbedderInfo(
            name=NAME, layer="embedding", input_size_px=self._size, dim=self.config.embedding_dim,
            weights=f"Lite0 blocks {self.config.extra['first_block']}+ fine-tuned by photo2cad train-finetune "
                    f"({manifest.get('finished', 'unknown date')}, {len(self.config.model_ids)} models, sha256 "
                    f"{_short_hash(folder / WEIGHTS_FILE)}) on {lite0_description}",
            extra={"preprocessing": "(x - 127) / 128, antialiased resize", "folder": str(folder)},
        )

    def _forward(self, images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(n, S, S, 3) float32 in [0, 255] -> (n, dim) embedding and (n, h, w, c) trunk activations."""
        activations = self._trunk_forward(images)
        flat = tf.reshape(activations, (tf.shape(images)[0], -1))
        return self._network(flat, training=False)["embedding"], activations

    def _trunk_forward(self, images: tf.Tensor) -> tf.Tensor:
        normalised = (images - efficientnet_lite.INPUT_MEAN) / efficientnet_lite.INPUT_STD
        return self._trunk(normalised, training=False)

    def _embed_rows(self, inputs: np.ndarray) -> np.ndarray:
        """One forward pass of network inputs (b, S, S, 3) -> (b, dim), remembering the trunk's activations
        once ImageNet's classifier reads them."""
        embedding, activations = self._embed_batch(tf.constant(inputs))
        if self._imagenet is not None:
            self._activations.put(inputs, activations.numpy())
        return embedding.numpy()

    def _trunk_activations(self, inputs: np.ndarray) -> np.ndarray:
        """Network inputs (n, S, S, 3) float32 -> trunk activations (n, h, w, c) float32."""
        with self._lock:
            return np.concatenate([self._trunk_batch(tf.constant(inputs[i:i + MAX_BATCH])).numpy()
                                   for i in range(0, len(inputs), MAX_BATCH)])

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """images: (n, H, W, 3) uint8 RGB, any H, W -> (n, S, S, 3) float32 in [0, 255] network input."""
        return network_input(checked_images(images, FinetunedModelError), self._size,
                             lambda x: self._resize(tf.constant(x)).numpy())

    def embed_prepared(self, inputs: np.ndarray) -> np.ndarray:
        """inputs: (n, S, S, 3) float32 from `prepare`. Returns (n, dim) float32, rows L2-normalised."""
        with self._lock:
            return forward_in_batches(self._embed_rows, inputs, self.info.dim, MAX_BATCH)

    def embed(self, images: np.ndarray) -> np.ndarray:
        """images: (n, H, W, 3) uint8 RGB. Returns (n, dim) float32, rows L2-normalised."""
        images = checked_images(images, FinetunedModelError)
        return np.concatenate([self.embed_prepared(self.prepare(images[i:i + MAX_BATCH]))
                               for i in range(0, len(images), MAX_BATCH)] or [np.zeros((0, self.info.dim),
                                                                                       np.float32)])

    def imagenet_classifier(self) -> TrunkImagenetClassifier:
        """ImageNet's classifier on the same registry Lite0 weights, untouched by the fine-tuning, reading this
        embedder's trunk activations of the images it embedded last (models.trunk_classifier; built on the
        first call, after which embedding remembers them; index.kind_cues reads it)."""
        with self._lock:
            if self._imagenet is None:
                self._imagenet = TrunkImagenetClassifier(
                    Path(self.spec.lite0_weights), int(self.config.extra["first_block"]), self._size, self.prepare,
                    self._trunk_activations, self._activations)
            return self._imagenet

    def kind_head(self) -> tuple[tuple[str, ...], np.ndarray, float]:
        """The seat-kind head as (kinds, weights (dim + 1, k) float32 with the bias last, temperature), the
        interface of models.adapter.AdapterEmbedder.kind_head."""
        return (tuple(self.config.seat_kinds), *linear_head(self._adapter, "kind"))

    def view_head(self) -> tuple[np.ndarray, float]:
        """The viewpoint head over the training index's view grid, like AdapterEmbedder.view_head."""
        return linear_head(self._adapter, "view")


def _short_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
