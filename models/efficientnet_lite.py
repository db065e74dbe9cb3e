"""EfficientNet-Lite0 (and its scaled siblings Lite1, Lite2) as Keras 3 functional models, loadable from the
TF-ported PyTorch checkpoints."""

from __future__ import annotations

import keras
import numpy as np

# (expand_ratio, kernel, first_stride, out_channels, repeats) per stage, as in EfficientNet-B0.
LITE0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
# Compound scaling of the Lite family (Google's efficientnet_lite_builder): (width, depth, resolution px).
# Lite keeps the stem and head widths and the first and last stages' repeats fixed.
LITE_SCALING = {"lite0": (1.0, 1.0, 224), "lite1": (1.0, 1.1, 240), "lite2": (1.1, 1.2, 260)}
STEM_CHANNELS = 32  # Lite fixes stem and head widths regardless of scaling.
HEAD_CHANNELS = 1280
BN_EPSILON = 1e-3  # the TF reference value, kept by the ported checkpoint
HEAD_LAYER = "head_activation"
# The checkpoint was converted from Google's TF EfficientNet-Lite, which normalises inputs this way.
INPUT_MEAN, INPUT_STD = 127.0, 128.0


class WeightLoadError(ValueError):
    """A state dict does not fit the Keras model."""


def preprocess_input(images: np.ndarray) -> np.ndarray:
    """(n, H, W, 3) RGB in [0, 255] -> float32 (x - 127) / 128, the TF Lite reference normalisation."""
    return (np.asarray(images, dtype=np.float32) - INPUT_MEAN) / INPUT_STD


def _bn_relu6(x, name: str, activate: bool = True):
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x) if activate else x


def _mbconv(x, index: int, expand: int, kernel: int, stride: int, out_channels: int):
    """Inverted residual block without squeeze-excite; layer names mirror the checkpoint keys."""
    prefix = f"blocks_{index}"
    inputs, in_channels = x, x.shape[-1]
    if expand != 1:
        x = keras.layers.Conv2D(in_channels * expand, 1, use_bias=False, name=f"{prefix}_expand_conv")(x)
        x = _bn_relu6(x, f"{prefix}_bn0")
    x = keras.layers.DepthwiseConv2D(
        kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_depthwise_conv"
    )(x)
    x = _bn_relu6(x, f"{prefix}_bn1")
    x = keras.layers.Conv2D(out_channels, 1, use_bias=False, name=f"{prefix}_project_conv")(x)
    x = _bn_relu6(x, f"{prefix}_bn2", activate=False)
    if stride == 1 and in_channels == out_channels:
        x = keras.layers.Add(name=f"{prefix}_add")([x, inputs])
    return x


def lite_stages(variant: str) -> tuple[tuple[int, int, int, int, int], ...]:
    """LITE0_STAGES scaled for `variant` (a LITE_SCALING key): channels times the width rounded to a
    multiple of 8 (never below 90 % of the product), repeats times the depth rounded up, except the first
    and last stages'."""
    width, depth, _ = LITE_SCALING[variant]
    stages = []
    for i, (expand, kernel, stride, channels, repeats) in enumerate(LITE0_STAGES):
        scaled = max(8, int(channels * width + 4) // 8 * 8)
        scaled += 8 if scaled < 0.9 * channels * width else 0
        fixed = i in (0, len(LITE0_STAGES) - 1)
        stages.append((expand, kernel, stride, scaled, repeats if fixed else int(np.ceil(depth * repeats))))
    return tuple(stages)


def build_efficientnet_lite(variant: str, include_top: bool, input_size_px: int | None = None) -> keras.Model:
    """build_efficientnet_lite0 for any LITE_SCALING variant, at its own resolution unless input_size_px."""
    size = input_size_px or LITE_SCALING[variant][2]
    inputs = keras.Input((size, size, 3), name="image")
    stem = keras.layers.Conv2D(STEM_CHANNELS, 3, strides=2, padding="same", use_bias=False, name="conv_stem")
    x = _top(_bn_relu6(stem(inputs), "bn0"), first_block=0, stages=lite_stages(variant))
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(0.2, name="dropout")(x)
        x = keras.layers.Dense(1000, activation="softmax", name="fc")(x)
    return keras.Model(inputs, x, name=f"efficientnet_{variant}")


def build_efficientnet_lite0(include_top: bool, input_size_px: int = 224) -> keras.Model:
    """EfficientNet-Lite0 on (None, S, S, 3) float inputs already normalised by `preprocess_input`.

    include_top: adds global pooling and the 1000-way ImageNet classifier (softmax output);
    otherwise the output is the (S/32, S/32, 1280) head activation. Keras "same" padding on the
    stride-2 convs pads bottom/right like TF, which the ported checkpoint expects.
    """
    return build_efficientnet_lite("lite0", include_top, input_size_px)


def _top(x, first_block: int, stages=LITE0_STAGES):
    """Blocks first_block, first_block + 1, ... then the head conv: (n, h, w, c) -> (n, h', w', 1280)."""
    index = 0
    for expand, kernel, stride, out_channels, repeats in stages:
        for repeat in range(repeats):
            if index >= first_block:
                x = _mbconv(x, index, expand, kernel, stride if repeat == 0 else 1, out_channels)
            index += 1
    x = keras.layers.Conv2D(HEAD_CHANNELS, 1, use_bias=False, name="conv_head")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name="bn1")(x)
    return keras.layers.ReLU(6.0, name=HEAD_LAYER)(x)


def block_count() -> int:
    return sum(stage[-1] for stage in LITE0_STAGES)


def split_lite0(model: keras.Model, first_block: int) -> tuple[keras.Model, keras.Model]:
    """A Lite0 (build_efficientnet_lite0, weights loaded) cut before block `first_block` (0 < first_block <
    block_count()): the trunk ((n, S, S, 3) normalised input -> (n, h, w, c) activation, sharing
    `model`'s layers) and a new top ((n, h, w, c) -> (n, S/32, S/32, 1280) head activation) with copies
    of `model`'s weights. E.g. first_block 11 at 224 px: the trunk answers (n, 14, 14, 112)."""
    if not 0 < first_block < block_count():
        raise ValueError(f"first_block must be in 1..{block_count() - 1}, not {first_block}")
    cut = model.get_layer(f"blocks_{first_block}_expand_conv").input
    trunk = keras.Model(model.input, cut, name=f"lite0_trunk_{first_block}")
    inputs = keras.Input(tuple(cut.shape[1:]), name="activation")
    top = keras.Model(inputs, _top(inputs, first_block), name=f"lite0_top_{first_block}")
    for layer in top.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return trunk, top


def _layer_name(torch_module: str) -> str:
    """'_blocks.3._bn0' -> 'blocks_3_bn0'."""
    return "_".join(part.lstrip("_") for part in torch_module.split("."))


def _keras_weights(layer: keras.layers.Layer, tensors: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The layer's weights, in Keras order, from the torch tensors of its module."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return [tensors["weight"].transpose(2, 3, 0, 1)]  # (C, 1, kh, kw) -> (kh, kw, C, 1)
    if isinstance(layer, keras.layers.Conv2D):
        return [tensors["weight"].transpose(2, 3, 1, 0)]  # OIHW -> HWIO
    if isinstance(layer, keras.layers.BatchNormalization):
        return [tensors[k] for k in ("weight", "bias", "running_mean", "running_var")]
    if isinstance(layer, keras.layers.Dense):
        return [tensors["weight"].T, tensors["bias"]]
    raise WeightLoadError(f"no torch mapping for layer type {type(layer).__name__}")


def load_efficientnet_lite0_weights(model: keras.Model, state_dict: dict[str, np.ndarray]) -> None:
    """Sets every weighted layer of `model` from the torch state dict, by name, checking shapes.

    Tensors of layers the model lacks (e.g. `_fc` when include_top=False) are ignored.
    """
    modules: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state_dict.items():
        module, _, param = key.rpartition(".")
        modules.setdefault(_layer_name(module), {})[param] = value
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in modules:
            raise WeightLoadError(f"state dict has no tensors for layer {layer.name}")
        values = _keras_weights(layer, modules[layer.name])
        expected = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != expected:
            raise WeightLoadError(f"{layer.name}: shapes {[v.shape for v in values]} != {expected}")
        layer.set_weights([v.astype(np.float32) for v in values])
