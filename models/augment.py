"""Training augmentation that narrows the render-to-photo gap, as batched TensorFlow ops.

Per image: random scale and shift (the object may be cut by the frame or small in it), a background
(a crop of a training HDRI panorama, a flat colour, or the white the index is rendered on), brightness,
contrast, saturation and per-channel gain jitter, optional Gaussian blur and sensor noise. Lighting is
randomised at render time (render.pool.RenderJob.lighting_seed). Randomness is stateless and driven by
a (2,) int seed per batch, so a seeded run sees the same images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from render.backgrounds import panorama_crop


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges. scale: box side over image side (> 1 zooms out); shift: box centre
    offset as a fraction of the side; brightness in grey levels; others are factors."""

    scale: tuple[float, float] = (0.8, 1.25)
    shift: float = 0.08
    p_white: float = 0.2
    p_flat: float = 0.1
    brightness: float = 30.0
    contrast: tuple[float, float] = (0.7, 1.3)
    saturation: tuple[float, float] = (0.5, 1.5)
    channel_gain: tuple[float, float] = (0.9, 1.1)
    p_blur: float = 0.4
    blur_sigma_px: tuple[float, float] = (0.5, 1.5)
    noise_std: tuple[float, float] = (0.0, 6.0)


def background_pool(panoramas: list[np.ndarray], size_px: int, count: int, seed: int) -> np.ndarray:
    """`count` perspective crops of the panoramas ((H, W, 3) uint8 each), spread evenly over them.
    Returns (count, size_px, size_px, 3) uint8."""
    if not panoramas:
        raise ValueError("a background pool needs at least one panorama")
    rng = np.random.default_rng(seed)
    return np.stack([panorama_crop(panoramas[i % len(panoramas)], size_px, rng) for i in range(count)])


def augment_batch(rgba: tf.Tensor, backgrounds: tf.Tensor, seed: tf.Tensor, size_px: int,
                  config: AugmentConfig = AugmentConfig()) -> tf.Tensor:
    """rgba: (n, S0, S0, 4) uint8 renders; backgrounds: (B, size_px, size_px, 3) uint8; seed: (2,) int.
    Returns (n, size_px, size_px, 3) float32 in [0, 255]."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 12)
    n = tf.shape(rgba)[0]
    layer = _crop_scale(tf.cast(rgba, tf.float32), size_px, config, seeds[0], seeds[1])
    image = _over_background(layer, backgrounds, n, config, seeds[2:5])
    image = _colour_jitter(image, n, config, seeds[5:9])
    image = _maybe_blur(image, n, config, seeds[9], seeds[10])
    noise_std = _uniform(seeds[11], (n, 1, 1, 1), config.noise_std)
    noise = tf.random.stateless_normal(tf.shape(image), seeds[11][::-1]) * noise_std
    return tf.clip_by_value(image + noise, 0.0, 255.0)


def _uniform(seed: tf.Tensor, shape, bounds: tuple[float, float]) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed, bounds[0], bounds[1])


def _crop_scale(rgba: tf.Tensor, size_px: int, config: AugmentConfig, scale_seed: tf.Tensor,
                shift_seed: tf.Tensor) -> tf.Tensor:
    """Random square boxes (beyond the image when zooming out: filled with transparent)."""
    n = tf.shape(rgba)[0]
    side = _uniform(scale_seed, (n, 1), config.scale)
    centre = 0.5 + _uniform(shift_seed, (n, 2), (-config.shift, config.shift))
    boxes = tf.concat([centre - side / 2, centre + side / 2], axis=1)  # y1, x1, y2, x2
    return tf.image.crop_and_resize(rgba, boxes, tf.range(n), (size_px, size_px), extrapolation_value=0.0)


def _over_background(layer: tf.Tensor, backgrounds: tf.Tensor, n: tf.Tensor, config: AugmentConfig,
                     seeds: tf.Tensor) -> tf.Tensor:
    picks = tf.random.stateless_uniform((n,), seeds[0], 0, tf.shape(backgrounds)[0], dtype=tf.int32)
    photo = tf.cast(tf.gather(backgrounds, picks), tf.float32)
    flat = tf.ones_like(photo) * _uniform(seeds[1], (n, 1, 1, 3), (0.0, 255.0))
    choice = tf.random.stateless_uniform((n, 1, 1, 1), seeds[2])
    background = tf.where(choice < config.p_white, tf.fill(tf.shape(photo), 255.0),
                          tf.where(choice < config.p_white + config.p_flat, flat, photo))
    alpha = layer[..., 3:] / 255.0
    return layer[..., :3] * alpha + background * (1.0 - alpha)


def _colour_jitter(image: tf.Tensor, n: tf.Tensor, config: AugmentConfig, seeds: tf.Tensor) -> tf.Tensor:
    image = image + _uniform(seeds[0], (n, 1, 1, 1), (-config.brightness, config.brightness))
    mean = tf.reduce_mean(image, axis=(1, 2, 3), keepdims=True)
    image = mean + (image - mean) * _uniform(seeds[1], (n, 1, 1, 1), config.contrast)
    grey = tf.reduce_mean(image, axis=3, keepdims=True)
    image = grey + (image - grey) * _uniform(seeds[2], (n, 1, 1, 1), config.saturation)
    return image * _uniform(seeds[3], (n, 1, 1, 3), config.channel_gain)


def _maybe_blur(image: tf.Tensor, n: tf.Tensor, config: AugmentConfig, sigma_seed: tf.Tensor,
                pick_seed: tf.Tensor) -> tf.Tensor:
    """One Gaussian (random sigma, 5x5) per batch, applied to a random subset of its images."""
    sigma = _uniform(sigma_seed, (), config.blur_sigma_px)
    taps = tf.exp(-0.5 * (tf.range(-2.0, 3.0) / sigma) ** 2)
    taps /= tf.reduce_sum(taps)
    kernel = tf.tile(tf.reshape(taps[:, None] * taps[None, :], (5, 5, 1, 1)), (1, 1, 3, 1))
    padded = tf.pad(image, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="SYMMETRIC")
    blurred = tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")
    chosen = tf.random.stateless_uniform((n, 1, 1, 1), pick_seed) < config.p_blur
    return tf.where(chosen, blurred, image)
