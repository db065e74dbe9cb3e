"""ImageNet's classifier that reads the fine-tuned embedder's trunk instead of running Lite0 again.

The fine-tuned embedder (models.finetuned) runs ImageNet Lite0's blocks 0..first_block-1 unchanged (its trunk),
which is most of what ImageNet's classifier (models.imagenet_classifier) would compute again for the same seat
crop. The embedder remembers the trunk activations of the images it embedded last (ActivationCache, keyed by
the network input's bytes), and TrunkImagenetClassifier runs only the rest: ImageNet Lite0's blocks from
first_block, its head, pooling and 1000-way top, with the registry weights. Images the cache has not seen go
through the trunk here. The answers equal ImagenetClassifier's up to float rounding.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from models import efficientnet_lite
from models.imagenet_classifier import CLASSES

REMEMBERED = 64  # trunk activations kept (88 kB each at 224 px): a request's seats and mirror images, a few times


class ActivationCache:
    """Trunk activations (h, w, c) float32 of recent network inputs (S, S, 3) float32, least recently used
    dropped past `size`; thread-safe."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def key(network_input: np.ndarray) -> bytes:
        return hashlib.blake2b(np.ascontiguousarray(network_input, np.float32).tobytes(), digest_size=16).digest()

    def put(self, inputs: np.ndarray, activations: np.ndarray) -> None:
        """inputs (n, S, S, 3) float32 and their activations (n, h, w, c)."""
        with self._lock:
            for row, activation in zip(inputs, activations, strict=True):
                key = self.key(row)
                self._items[key] = activation
                self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get(self, network_input: np.ndarray) -> np.ndarray | None:
        """The activation remembered for this input (S, S, 3), or None."""
        key = self.key(network_input)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            self.hits, self.misses = self.hits + (found is not None), self.misses + (found is None)
            return found


class ImagenetTop:
    """ImageNet Lite0 from block first_block on, with its head, pooling and 1000-way top (registry weights):
    trunk activations (n, h, w, c) float32 -> (n, 1000) float32 probabilities."""

    def __init__(self, lite0_weights: Path, first_block: int, input_size_px: int) -> None:
        full = efficientnet_lite.build_efficientnet_lite0(include_top=True, input_size_px=input_size_px)
        full.load_weights(lite0_weights)
        _, top = efficientnet_lite.split_lite0(full, first_block)
        pooled = keras.layers.GlobalAveragePooling2D()(top.output)
        classes = keras.layers.Dense(CLASSES, activation="softmax", name="fc")(pooled)
        self.model = keras.Model(top.input, classes)
        self.model.get_layer("fc").set_weights(full.get_layer("fc").get_weights())
        # One trace for every batch size (the number of seats answered varies from request to request).
        signature = [tf.TensorSpec((None, *self.model.input.shape[1:]), tf.float32)]
        self._forward = tf.function(lambda x: self.model(x, training=False), input_signature=signature)

    def probabilities(self, activations: np.ndarray) -> np.ndarray:
        return self._forward(tf.constant(activations, tf.float32)).numpy().astype(np.float32)


class TrunkImagenetClassifier:
    """ImageNet class probabilities of images from the trunk activations an embedder computed (module
    docstring). prepare: images (n, H, W, 3) uint8 -> network inputs (n, S, S, 3) float32, as the embedder
    prepares them; trunk: network inputs -> activations (n, h, w, c), computing them; cache: the embedder's."""

    def __init__(self, lite0_weights: Path, first_block: int, input_size_px: int,
                 prepare: Callable[[np.ndarray], np.ndarray], trunk: Callable[[np.ndarray], np.ndarray],
                 cache: ActivationCache) -> None:
        self._top = ImagenetTop(lite0_weights, first_block, input_size_px)
        self._prepare, self._trunk, self.cache = prepare, trunk, cache

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """images (n, H, W, 3) uint8 RGB -> (n, 1000) float32, rows summing to 1; (0, 1000) for none."""
        inputs = self._prepare(images)
        if len(inputs) == 0:
            return np.zeros((0, CLASSES), np.float32)
        found = [self.cache.get(row) for row in inputs]
        missing = [i for i, activation in enumerate(found) if activation is None]
        if missing:
            for i, activation in zip(missing, self._trunk(inputs[missing]), strict=True):
                found[i] = activation
        return self._top.probabilities(np.stack(found))
