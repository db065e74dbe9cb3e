"""The photo loader: reduced-size JPEG decoding, EXIF orientation and focal length, header-only refusals."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile

from models.photo import PhotoError, load_photo, square_image


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _quadrants(width: int = 80, height: int = 60) -> np.ndarray:
    """(height, width, 3) uint8: red top-left, green top-right, blue bottom-left, white bottom-right."""
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 2, : width // 2] = (255, 0, 0)
    image[: height // 2, width // 2 :] = (0, 255, 0)
    image[height // 2 :, : width // 2] = (0, 0, 255)
    image[height // 2 :, width // 2 :] = (255, 255, 255)
    return image


def _exif(orientation: int | None = None, focal_35mm: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if focal_35mm is not None:
        exif.get_ifd(0x8769)[0xA405] = focal_35mm
    return exif


def _decoded_sizes(monkeypatch) -> list[tuple[int, int]]:
    """Sizes at which JPEGs are decoded from now on (Pillow's load, spied on)."""
    sizes: list[tuple[int, int]] = []
    real_load = JpegImageFile.load

    def load(self):
        result = real_load(self)
        sizes.append(self.size)
        return result

    monkeypatch.setattr(JpegImageFile, "load", load)
    return sizes


@pytest.mark.parametrize("orientation, stored", [
    (6, lambda a: np.rot90(a, 1)),  # stored turned left; the viewer turns it 90 deg clockwise
    (8, lambda a: np.rot90(a, -1)),
    (3, lambda a: np.rot90(a, 2)),
    (2, lambda a: a[:, ::-1]),
])
def test_exif_orientation_gives_the_upright_picture(orientation, stored):
    upright = _quadrants()
    data = _save(Image.fromarray(np.ascontiguousarray(stored(upright))), "JPEG", quality=95,
                 exif=_exif(orientation))
    photo = load_photo(data)
    assert photo.original_size == (80, 60) and photo.image.size == (80, 60)
    assert np.abs(np.asarray(photo.image).astype(int) - upright).mean() < 8


def test_focal_length_in_35mm_film_is_read():
    picture = Image.fromarray(_quadrants())
    assert load_photo(_save(picture, "JPEG", exif=_exif(6, focal_35mm=28))).focal_35mm_mm == 28.0
    assert load_photo(_save(picture, "JPEG", exif=_exif(1))).focal_35mm_mm is None
    assert load_photo(_save(picture, "PNG")).focal_35mm_mm is None


def test_jpeg_is_decoded_at_reduced_size(monkeypatch):
    """A 4000x3000 JPEG for a 1280 px target is decoded at 2000x1500 (DCT scaling 1/2: 1/4 would give
    1000 px, below the target), then shrunk to 1280x960."""
    big = Image.fromarray(_quadrants()).resize((4000, 3000))
    data = _save(big, "JPEG", quality=90, exif=_exif(6))
    sizes = _decoded_sizes(monkeypatch)
    photo = load_photo(data, max_side_px=1280)
    assert set(sizes) == {(2000, 1500)}
    assert photo.image.size == (960, 1280) and photo.original_size == (3000, 4000)
    assert photo.scale == pytest.approx(3.125)
    sizes.clear()
    assert load_photo(data, max_side_px=224).image.size == (168, 224) and set(sizes) == {(500, 375)}


def test_small_photos_are_never_upscaled():
    photo = load_photo(_save(Image.fromarray(_quadrants(40, 30)), "PNG"), max_side_px=1280)
    assert photo.image.size == (40, 30) and photo.scale == 1.0


@pytest.mark.parametrize("width, height", [(20000, 8), (6000, 8), (8, 6000), (900, 100)])
def test_elongated_images_are_refused_from_the_header(monkeypatch, width, height):
    data = _save(Image.new("RGB", (width, height), (200, 10, 10)), "PNG")
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded a refused image"))
    with pytest.raises(PhotoError, match=f"{width}x{height} px is too elongated"):
        load_photo(data)


def test_pixel_budget_grows_with_bytes_except_for_baseline_jpeg():
    """A 3000x3000 solid PNG or progressive JPEG of a few kB is refused before decoding; the same
    picture as a baseline JPEG (decoded at 1/8 a side) is fine, and so is a PNG of as many bytes as
    pixels."""
    solid = Image.new("RGB", (3000, 3000), (90, 120, 30))
    for data in (_save(solid, "PNG"), _save(solid, "JPEG", progressive=True)):
        with pytest.raises(PhotoError, match="3000x3000 px is too large for its"):
            load_photo(data)
    assert load_photo(_save(solid, "JPEG"), max_side_px=256).image.size == (256, 256)
    assert load_photo(_save(solid, "PNG", compress_level=0)).image.size == (1280, 1280)


@pytest.mark.parametrize("payload, message", [
    (b"", "empty file"),
    (b"GIF89a but not really", "not a recognised image"),
    (_save(Image.new("RGB", (5, 100)), "PNG"), "too small"),
])
def test_bad_bytes_raise_photo_error(payload, message):
    with pytest.raises(PhotoError, match=message):
        load_photo(payload)


def test_truncated_large_jpeg_is_an_error_at_reduced_size():
    noisy = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    data = _save(Image.fromarray(noisy).resize((4000, 3000)), "JPEG", quality=80)
    with pytest.raises(PhotoError, match="cannot decode image"):
        load_photo(data[: len(data) // 2], max_side_px=1280)


def test_modes_become_rgb_with_alpha_on_white():
    picture = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    transparent = load_photo(_save(Image.fromarray(np.zeros((16, 16, 4), np.uint8)), "PNG")).image
    assert transparent.mode == "RGB" and np.asarray(transparent).min() == 255
    ramp = np.linspace(1000, 33000, 16 * 16).reshape(16, 16).astype(np.uint16)  # must not be stretched
    scaled = np.asarray(load_photo(_save(Image.fromarray(ramp), "PNG")).image)[..., 0].astype(int)
    assert np.abs(scaled - np.round(ramp / 257)).max() <= 1
    cmyk = load_photo(_save(Image.fromarray(picture).convert("CMYK"), "JPEG", quality=100)).image
    assert np.abs(np.asarray(cmyk).astype(int) - picture).mean() < 12
    frames = [Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (30, 0, 128)]
    gif = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    assert np.abs(np.asarray(load_photo(gif).image).astype(int) - 30).max() <= 2


def test_square_image_centres_the_photo_on_white():
    photo = Image.fromarray(_quadrants(80, 40))
    square = square_image(photo, 64)
    assert square.shape == (64, 64, 3) and square.dtype == np.uint8
    assert (square[:15] == 255).all() and (square[49:] == 255).all()  # 16 rows of white each side
    assert tuple(square[20, 10]) == (255, 0, 0) and tuple(square[44, 10]) == (0, 0, 255)
