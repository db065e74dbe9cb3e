"""Training augmentation that narrows the render-to-photo gap, as batched TensorFlow ops.

Per image: random scale and shift (the object may be cut by the frame or small in it), a background
(a crop of a training HDRI panorama, a flat colour, or the white the index is rendered on), brightness,
contrast, saturation and per-channel gain jitter, optional Gaussian blur and sensor noise. Off unless
configured (the lite0_adapter's domain randomisation): occluding bands from an image edge (table edges,
other furniture), a table or desk in front of the seat (its lower part hidden, the back seen), motion blur and
JPEG artefacts. Lighting is
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
    p_occlusion: float = 0.0  # a band from one image edge covered by another background crop
    occlusion_depth: tuple[float, float] = (0.1, 0.35)  # the band's depth, a fraction of the side
    p_table: float = 0.0  # a table in front: the object's lower rows and all below, a surface over a crop
    table_depth: tuple[float, float] = (0.3, 0.7)  # the share of the object's height the table hides
    p_motion_blur: float = 0.0
    motion_length_px: tuple[float, float] = (3.0, 9.0)
    p_jpeg: float = 0.0
    jpeg_quality: tuple[int, int] = (15, 85)


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
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 18)
    n = tf.shape(rgba)[0]
    layer = _crop_scale(tf.cast(rgba, tf.float32), size_px, config, seeds[0], seeds[1])
    image = _over_background(layer, backgrounds, n, config, seeds[2:5])
    if config.p_occlusion > 0:
        image = _occlude(image, backgrounds, n, config, seeds[12:15])
    if config.p_table > 0:
        image = _table(image, layer[..., 3:] / 255.0, backgrounds, n, config, seeds[12])
    image = _colour_jitter(image, n, config, seeds[5:9])
    image = _maybe_blur(image, n, config, seeds[9], seeds[10])
    if config.p_motion_blur > 0:
        image = _motion_blur(image, n, config, seeds[15:17])
    noise_std = _uniform(seeds[11], (n, 1, 1, 1), config.noise_std)
    noise = tf.random.stateless_normal(tf.shape(image), seeds[11][::-1]) * noise_std
    image = tf.clip_by_value(image + noise, 0.0, 255.0)
    return _jpeg(image, n, config, seeds[17]) if config.p_jpeg > 0 else image


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


def _occlude(image: tf.Tensor, backgrounds: tf.Tensor, n: tf.Tensor, config: AugmentConfig,
             seeds: tf.Tensor) -> tf.Tensor:
    """Covers a band from a random edge (depth a fraction of the side) with another background crop."""
    size = tf.shape(image)[1]
    picks = tf.random.stateless_uniform((n,), seeds[0], 0, tf.shape(backgrounds)[0], dtype=tf.int32)
    cover = tf.cast(tf.gather(backgrounds, picks), tf.float32)
    depth = _uniform(seeds[1], (n, 1, 1), config.occlusion_depth)
    edge = tf.random.stateless_uniform((n, 1, 1), seeds[2], 0, 4, dtype=tf.int32)
    chosen = tf.random.stateless_uniform((n, 1, 1), seeds[2][::-1]) < config.p_occlusion
    ramp = (tf.cast(tf.range(size), tf.float32) + 0.5) / tf.cast(size, tf.float32)
    rows, cols = ramp[None, :, None], ramp[None, None, :]
    bands = tf.stack([rows < depth + 0 * cols, rows > 1 - depth + 0 * cols,
                      cols < depth + 0 * rows, cols > 1 - depth + 0 * rows], axis=-1)  # (n, S, S, 4)
    covered = tf.reduce_any(bands & tf.cast(tf.one_hot(edge, 4), tf.bool), axis=-1) & chosen
    return tf.where(covered[..., None], cover, image)


def _table(image: tf.Tensor, alpha: tf.Tensor, backgrounds: tf.Tensor, n: tf.Tensor, config: AugmentConfig,
           seed: tf.Tensor) -> tf.Tensor:
    """A table in front of the seat, on a random p_table of the images: the lower `table_depth` share of the
    object's rows (alpha: (n, S, S, 1) its coverage in [0, 1]) and every row below it covered by a background
    crop under a flat surface colour (weight 0.3-1). Images without the object are left alone."""
    seeds = [tf.random.experimental.stateless_fold_in(seed, k) for k in range(5)]
    size = tf.shape(image)[1]
    picks = tf.random.stateless_uniform((n,), seeds[0], 0, tf.shape(backgrounds)[0], dtype=tf.int32)
    surface = _uniform(seeds[1], (n, 1, 1, 3), (0.0, 255.0))
    weight = _uniform(seeds[2], (n, 1, 1, 1), (0.3, 1.0))
    cover = tf.cast(tf.gather(backgrounds, picks), tf.float32) * (1.0 - weight) + surface * weight
    rows = tf.cast(tf.range(size), tf.float32)[None, :]  # (1, S)
    seen = tf.reduce_max(alpha[..., 0], axis=2) > 0.5  # (n, S) rows showing the object
    top = tf.reduce_min(tf.where(seen, rows, tf.cast(size, tf.float32)), axis=1, keepdims=True)
    bottom = tf.reduce_max(tf.where(seen, rows, -1.0), axis=1, keepdims=True)
    depth = _uniform(seeds[3], (n, 1), config.table_depth)
    edge = bottom + 1.0 - depth * (bottom + 1.0 - top)  # (n, 1) the table's top edge, a row
    chosen = (tf.random.stateless_uniform((n, 1), seeds[4]) < config.p_table) & tf.reduce_any(seen, 1, True)
    covered = (rows >= edge) & chosen  # (n, S)
    return tf.where(covered[:, :, None, None], cover, image)


def _motion_blur(image: tf.Tensor, n: tf.Tensor, config: AugmentConfig, seeds: tf.Tensor) -> tf.Tensor:
    """One straight-line kernel per batch (random length and angle, 9x9), on a random subset of it."""
    length = _uniform(seeds[0], (), config.motion_length_px)
    angle = _uniform(seeds[0][::-1], (), (0.0, np.pi))
    grid = tf.range(-4.0, 5.0)
    ys, xs = grid[:, None], grid[None, :]
    along = xs * tf.cos(angle) + ys * tf.sin(angle)
    across = -xs * tf.sin(angle) + ys * tf.cos(angle)
    taps = tf.nn.relu(1.0 - tf.abs(across)) * tf.cast(tf.abs(along) <= length / 2, tf.float32)
    taps /= tf.reduce_sum(taps)
    kernel = tf.tile(tf.reshape(taps, (9, 9, 1, 1)), (1, 1, 3, 1))
    padded = tf.pad(image, [[0, 0], [4, 4], [4, 4], [0, 0]], mode="SYMMETRIC")
    blurred = tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")
    chosen = tf.random.stateless_uniform((n, 1, 1, 1), seeds[1]) < config.p_motion_blur
    return tf.where(chosen, blurred, image)


def _jpeg(image: tf.Tensor, n: tf.Tensor, config: AugmentConfig, seed: tf.Tensor) -> tf.Tensor:
    """JPEG-compress a random subset at random qualities (per image: TensorFlow's codec is per image)."""
    quality = tf.random.stateless_uniform((n,), seed, config.jpeg_quality[0], config.jpeg_quality[1] + 1,
                                          dtype=tf.int32)
    chosen = tf.random.stateless_uniform((n,), seed[::-1]) < config.p_jpeg

    def one(args):
        picture, q, pick = args
        encoded = tf.image.adjust_jpeg_quality(picture / 255.0, q) * 255.0
        return tf.where(pick, encoded, picture)

    return tf.map_fn(one, (image, quality, chosen), fn_output_signature=tf.float32)
