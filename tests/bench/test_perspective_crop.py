"""bench.perspective_crop: a ball off the photo's axis is an ellipse in the photo and a disc in its perspective
crop; at the centre the crop is the service's square crop."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.perspective_crop import perspective_crop
from index.oblique import focal_px
from index.scene import square_crop

SIZE = (640, 480)


def ball_photo(offset_deg: float, radius_deg: float) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """A pinhole photo (28 mm equivalent) of a black ball on white, its centre offset_deg right of the optical
    axis, radius_deg its angular radius; with the ball's bounding box (px)."""
    focal = focal_px(SIZE, 28.0)
    x, y = np.meshgrid(np.arange(SIZE[0]) + 0.5 - SIZE[0] / 2, np.arange(SIZE[1]) + 0.5 - SIZE[1] / 2)
    rays = np.stack([x, y, np.full_like(x, focal)], axis=-1)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    centre = np.array([np.sin(np.radians(offset_deg)), 0.0, np.cos(np.radians(offset_deg))])
    inside = rays @ centre > np.cos(np.radians(radius_deg))
    ys, xs = np.nonzero(inside)
    pixels = np.where(inside[..., None], 0, 255).astype(np.uint8).repeat(3, axis=-1)
    return Image.fromarray(pixels), (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def blob_shape(crop: np.ndarray) -> tuple[float, float, float, float]:
    """Width and height (px) of the dark blob and its centre's offset (px) from the crop's centre."""
    ys, xs = np.nonzero(crop.mean(axis=-1) < 128)
    side = crop.shape[0]
    return (xs.max() - xs.min() + 1, ys.max() - ys.min() + 1,
            (xs.max() + xs.min() + 1) / 2 - side / 2, (ys.max() + ys.min() + 1) / 2 - side / 2)


def test_a_ball_off_the_axis_is_a_disc_in_the_perspective_crop_and_an_ellipse_in_the_square_crop():
    photo, box = ball_photo(25.0, 5.0)
    width, height, _, _ = blob_shape(square_crop(photo, box, 160))
    assert width / height > 1.06  # stretched away from the photo's centre by about 1 / cos(25 deg)
    width, height, dx, dy = blob_shape(perspective_crop(photo, box, 160, focal_35mm_mm=28.0))
    assert width / height == pytest.approx(1.0, abs=0.03)
    assert abs(dx) <= 4 and abs(dy) <= 2  # the box centre lies a little outside the ball centre's ray


def test_at_the_photo_centre_the_perspective_crop_is_the_square_crop():
    photo, box = ball_photo(0.0, 8.0)
    square = square_crop(photo, box, 128).astype(np.float64)
    turned = perspective_crop(photo, box, 128, focal_35mm_mm=28.0).astype(np.float64)
    assert np.mean(np.abs(square - turned)) < 4.0


def test_the_wider_the_lens_the_more_the_crop_is_turned():
    photo, box = ball_photo(25.0, 5.0)
    narrow = perspective_crop(photo, box, 160, focal_35mm_mm=400.0)  # nearly no turn: nearly the square crop
    width, height, _, _ = blob_shape(narrow)
    assert width / height > 1.04
