"""Decoding user images safely: format check, pixel limits, EXIF orientation, RGB, square framing."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF", "MPO"}


class ImageDecodeError(ValueError):
    """The bytes are not an image we accept (not an image, truncated, too large, wrong format)."""


def decode_image(data: bytes, max_pixels: int = 40_000_000, max_side_px: int = 20_000) -> np.ndarray:
    """Bytes of an image file -> (H, W, 3) uint8 RGB, EXIF orientation applied, alpha on white.

    The pixel limits are checked from the header, before the pixels are decoded.
    """
    if not data:
        raise ImageDecodeError("empty file")
    image = _open(data)
    width, height = image.size
    if width * height > max_pixels or max(width, height) > max_side_px:
        raise ImageDecodeError(f"image of {width}x{height} px is too large (limit {max_pixels} pixels, "
                               f"{max_side_px} px a side)")
    if min(width, height) < 8:
        raise ImageDecodeError(f"image of {width}x{height} px is too small (at least 8 px a side)")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        return _to_rgb(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"cannot decode image: {exc}") from None


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(f"image too large: {exc}") from None
    except UnidentifiedImageError:
        raise ImageDecodeError("not a recognised image (JPEG, PNG, WebP, BMP, GIF or TIFF expected)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(f"cannot read image: {exc}") from None
    if image.format not in ALLOWED_FORMATS:
        raise ImageDecodeError(f"image format {image.format} is not accepted")
    return image


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        span = max(float(array.max() - array.min()), 1e-9)
        image = Image.fromarray(((array - array.min()) / span * 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
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
