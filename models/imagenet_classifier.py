"""What ImageNet's own classifier sees in an image: frozen EfficientNet-Lite0 with its 1000-way top.

The network and weights are the registry's ImageNet Lite0 (models.weights.prepare_weights, the same file
the embedders start from), untouched by any training here: it learnt from photographs, so on a seat's crop
it answers about the photograph's world (a desk, a dining table, a studio couch) where the render-trained
heads have only seen renders. index.kind_cues turns its answer into seat-kind evidence.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import tensorflow as tf

from models import efficientnet_lite
from models.embedder import checked_images, network_input

CLASSES = 1000
MAX_BATCH = 32  # images per forward pass


class ImagenetClassifier:
    """(n, H, W, 3) uint8 RGB -> (n, 1000) ImageNet class probabilities; thread-safe. weights: a Keras
    weights file of build_efficientnet_lite0(include_top=True), or None for random weights (tests)."""

    def __init__(self, weights: Path | None, input_size_px: int = 224) -> None:
        self._size = input_size_px
        self._model = efficientnet_lite.build_efficientnet_lite0(include_top=True, input_size_px=input_size_px)
        if weights is not None:
            self._model.load_weights(weights)
        self._lock = threading.Lock()
        self._forward = tf.function(self._probabilities,
                                    input_signature=[tf.TensorSpec((None, self._size, self._size, 3), tf.float32)])
        self._resize = tf.function(lambda x: tf.image.resize(tf.cast(x, tf.float32), (self._size, self._size),
                                                             antialias=True),
                                   input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8)])

    def _probabilities(self, images: tf.Tensor) -> tf.Tensor:
        """(n, S, S, 3) float32 in [0, 255] -> (n, 1000) softmax."""
        normalised = (images - efficientnet_lite.INPUT_MEAN) / efficientnet_lite.INPUT_STD
        return self._model(normalised, training=False)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """images (n, H, W, 3) uint8 RGB, any H, W (resized, antialiased, to input_size_px) -> (n, 1000)
        float32, rows summing to 1; (0, 1000) for no images."""
        images = checked_images(images)
        out = [np.zeros((0, CLASSES), np.float32)]
        for start in range(0, len(images), MAX_BATCH):
            batch = network_input(images[start:start + MAX_BATCH], self._size,
                                  lambda x: self._resize(tf.constant(x)).numpy())
            with self._lock:
                out.append(self._forward(tf.constant(batch)).numpy().astype(np.float32))
        return np.concatenate(out)
