"""Decoding user images safely: format check, pixel limits, EXIF orientation, RGB, square framing."""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF", "MPO"}
NOT_AN_IMAGE = "not a recognised image (JPEG, PNG, WebP, BMP, GIF or TIFF expected)"
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


class ImageDecodeError(ValueError):
    """The bytes are not an image we accept (not an image, truncated, too large, wrong format)."""


def decode_image(data: bytes, max_pixels: int = 40_000_000, max_side_px: int = 20_000) -> np.ndarray:
    """Bytes of an image file -> (H, W, 3) uint8 RGB, EXIF orientation applied, alpha on white.

    Animated images (GIF, WebP) give their first frame; 16-bit images are scaled to 8 bits.
    The pixel limits are checked from the header, before the pixels are decoded.
    """
    if not data:
        raise ImageDecodeError("empty file")
    image = _open(data)
    _check_size(*image.size, max_pixels, max_side_px)
    # Pillow's decoders raise many exception types (TypeError, struct.error, EOFError...) on corrupt
    # files; every one of them means "a broken upload", never a server fault.
    try:
        image.load()
        return _to_rgb(_oriented(image))
    except Exception as exc:  # noqa: BLE001
        raise ImageDecodeError(f"cannot decode image: {exc or type(exc).__name__}") from None


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(f"image too large: {_declared_pixels(exc)}") from None
    except UnidentifiedImageError:
        raise ImageDecodeError(NOT_AN_IMAGE) from None
    except Exception as exc:  # noqa: BLE001 (a recognised but corrupt header; see decode_image)
        raise ImageDecodeError(f"cannot read image: {exc or type(exc).__name__}") from None
    if image.format not in ALLOWED_FORMATS:
        raise ImageDecodeError(f"image format {image.format} is not accepted")
    return image


def _declared_pixels(bomb: Exception) -> str:
    """Pillow's decompression-bomb message, reduced to the declared pixel count."""
    found = re.search(r"\((\d+) pixels\)", str(bomb))
    return f"its header declares {int(found[1]):,} pixels" if found else str(bomb)


def _check_size(width: int, height: int, max_pixels: int, max_side_px: int) -> None:
    if width * height > max_pixels or max(width, height) > max_side_px:
        raise ImageDecodeError(f"image of {width}x{height} px is too large (limit {max_pixels} pixels, "
                               f"{max_side_px} px a side)")
    if min(width, height) < 8:
        raise ImageDecodeError(f"image of {width}x{height} px is too small (at least 8 px a side)")


def _oriented(image: Image.Image) -> Image.Image:
    """EXIF orientation applied; an unreadable EXIF block is ignored (the pixels are still good)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data" warnings
            return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001
        return image


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in SIXTEEN_BIT_MODES:
        image = Image.fromarray((np.asarray(image, dtype=np.float64) / 257).round().astype(np.uint8))
    elif image.mode in ("I", "F"):  # unknown scale: stretch to the full 8-bit range
        array = np.asarray(image, dtype=np.float64)
        span = max(float(array.max() - array.min()), 1e-9)
        image = Image.fromarray(((array - array.min()) / span * 255).round().astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def square_pad(image: np.ndarray, fill: int = 255) -> np.ndarray:
    """(H, W, 3) uint8 -> (S, S, 3) with S = max(H, W), the image centred on `fill`, so that a
    non-square photo keeps the whole object (renders are square)."""
    height, width = image.shape[:2]
    side = max(height, width)
    out = np.full((side, side, 3), fill, dtype=np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    out[top:top + height, left:left + width] = image
    return out
