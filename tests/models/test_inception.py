"""Inception v3 weight resolution and tfjs-to-Keras loading, on small inputs."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models import inception
from models.inception import InceptionWeightsError, load_tfjs_inception, resolve_inception_weights

KINDS = ((keras.layers.Conv2D, "conv2d"), (keras.layers.BatchNormalization, "batch_normalization"))


def test_resolution_order(tmp_path):
    own = tmp_path / "own.weights.h5"
    own.write_bytes(b"x")
    cache = tmp_path / "cache"
    cache.mkdir()
    assert resolve_inception_weights(own, True, keras_cache_dir=cache)[0] == str(own)
    assert resolve_inception_weights(None, True, keras_cache_dir=cache)[0] == "imagenet"
    (cache / inception.KERAS_NOTOP_FILE).write_bytes(b"x")
    cached = cache / inception.KERAS_NOTOP_FILE
    assert resolve_inception_weights(None, True, keras_cache_dir=cache)[0] == str(cached)


def test_resolution_errors(tmp_path):
    with pytest.raises(InceptionWeightsError):
        resolve_inception_weights(tmp_path / "missing.h5", False, keras_cache_dir=tmp_path)
    with pytest.raises(InceptionWeightsError):
        resolve_inception_weights(None, False, keras_cache_dir=tmp_path, weights_dir=None)


def _keras2_style_weights(model: keras.Model, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random tfjs-style weights named conv2d_1.. / batch_normalization_1.. in creation order."""
    weights = {}
    for kind, prefix in KINDS:
        for i, layer in enumerate(inception._by_creation_order(model.layers, kind), start=1):
            for variable in layer.weights:
                param = variable.path.rsplit("/", 1)[1]
                weights[f"{prefix}_{i}/{param}"] = rng.standard_normal(variable.shape).astype(np.float32)
    return weights


def test_tfjs_weights_load_in_creation_order():
    reference = inception.build_inception_v3(None, 75)
    tfjs_weights = _keras2_style_weights(reference, np.random.default_rng(0))
    target = inception.build_inception_v3(None, 75)
    assert load_tfjs_inception(target, tfjs_weights) == 188
    for kind, prefix in KINDS:
        for i, layer in enumerate(inception._by_creation_order(target.layers, kind), start=1):
            param = layer.weights[0].path.rsplit("/", 1)[1]
            np.testing.assert_array_equal(layer.weights[0].numpy(), tfjs_weights[f"{prefix}_{i}/{param}"])
    # creation order starts at the stem (model.layers is topological, so this is not trivial)
    assert inception._by_creation_order(target.layers, keras.layers.Conv2D)[0] is target.layers[1]


def test_shape_mismatch_is_an_error():
    model = inception.build_inception_v3(None, 75)
    tfjs_weights = _keras2_style_weights(model, np.random.default_rng(1))
    tfjs_weights["conv2d_2/kernel"] = tfjs_weights["conv2d_2/kernel"][..., :-1]
    with pytest.raises(InceptionWeightsError):
        load_tfjs_inception(model, tfjs_weights)


def test_too_small_input_is_an_error():
    with pytest.raises(InceptionWeightsError):
        inception.build_inception_v3(None, 64)
