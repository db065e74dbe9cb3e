"""The one photo loader: upload bytes -> a small RGB image, EXIF-rotated, with what EXIF says of the lens.

Every check that can be made from the header runs before any pixel is decoded: format, size, aspect
ratio, and a pixel budget that grows with the upload's byte size (a 600-byte PNG declaring 20 megapixels
is a decompression bomb, not a photo). JPEGs are decoded at reduced size by libjpeg's DCT scaling
(Pillow's `draft`: 1/2, 1/4 or 1/8 a side) to the smallest size not below the target; other formats are
decoded in full, which is why their pixel budget is tighter. Only one full-resolution copy is ever held
(plus, for palette, 16-bit and CMYK images, the 8-bit RGB(A) it is converted into before shrinking):
the image is shrunk, then rotated as EXIF says, then put on white and made RGB, all at the small size.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF", "TIFF"}
NOT_AN_IMAGE = "not a recognised image (JPEG, PNG, WebP, BMP, GIF or TIFF expected)"
MAX_PIXELS = 40_000_000  # whatever the byte size
MAX_ASPECT = 8.0  # longest side / shortest side
MIN_SIDE_PX = 8
FREE_PIXELS = 4_000_000  # any upload may declare this many pixels...
PIXELS_PER_BYTE = 8.0  # ...and beyond that this many per byte, unless it is a baseline JPEG (see _budget)
ORIENTATION_TAG, EXIF_IFD, FOCAL_35MM_TAG = 0x0112, 0x8769, 0xA405
TRANSPOSES = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class PhotoError(ValueError):
    """Bytes that are not a photo we accept: not an image, truncated, corrupt, absurd or too large."""


@dataclass(frozen=True)
class Photo:
    """A loaded photo: `image` RGB, EXIF-rotated, longest side <= the loader's max_side_px (never
    upscaled); `original_size` (width, height) px of the upload after EXIF rotation; `focal_35mm_mm`
    EXIF FocalLengthIn35mmFilm in mm, None when absent."""

    image: Image.Image
    original_size: tuple[int, int]
    focal_35mm_mm: float | None

    @property
    def scale(self) -> float:
        """Original pixels per image pixel (>= 1), along the longest side."""
        return max(self.original_size) / max(self.image.size)


def load_photo(data: bytes, max_side_px: int = 1280, max_pixels: int = MAX_PIXELS,
               max_aspect: float = MAX_ASPECT) -> Photo:
    """Bytes of a JPEG, PNG, WebP, GIF (first frame), BMP or TIFF -> Photo; raises PhotoError.

    Alpha is put on white, 16-bit images are scaled to 8 bits. max_pixels: the most pixels any upload
    may declare; max_aspect: the longest side over the shortest one, at most.
    """
    if not data:
        raise PhotoError("empty file")
    if max_side_px < 1:
        raise ValueError("max_side_px must be at least 1")
    image = _open(data)
    _check_header(image, len(data), max_pixels, max_aspect)
    orientation, focal = _exif(image)
    width, height = image.size
    source_mode = image.mode
    if image.format in ("JPEG", "MPO"):
        image.draft("RGB", _draft_size(image.size, max_side_px))
    small = _oriented(_decoded_small(image, max_side_px), orientation)
    original_size = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    return Photo(_rgb(small, source_mode), original_size, focal)


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoError(f"image too large: {_declared_pixels(exc)}") from None
    except UnidentifiedImageError:
        raise PhotoError(NOT_AN_IMAGE) from None
    except Exception as exc:  # noqa: BLE001 (a recognised but corrupt header; see _decoded_small)
        raise PhotoError(f"cannot read image: {exc or type(exc).__name__}") from None
    if image.format not in ALLOWED_FORMATS:
        raise PhotoError(f"image format {image.format} is not accepted")
    return image


def _declared_pixels(bomb: Exception) -> str:
    """Pillow's decompression-bomb message, reduced to the declared pixel count."""
    found = re.search(r"\((\d+) pixels\)", str(bomb))
    return f"its header declares {int(found[1]):,} pixels" if found else str(bomb)


def _check_header(image: Image.Image, n_bytes: int, max_pixels: int, max_aspect: float) -> None:
    """Size checks from the header alone (nothing decoded yet)."""
    width, height = image.size
    if min(width, height) < MIN_SIDE_PX:
        raise PhotoError(f"image of {width}x{height} px is too small (at least {MIN_SIDE_PX} px a side)")
    if max(width, height) > max_aspect * min(width, height):
        raise PhotoError(f"image of {width}x{height} px is too elongated (aspect ratio beyond "
                         f"{max_aspect:g}:1)")
    budget = _budget(image, n_bytes, max_pixels)
    if width * height > budget:
        raise PhotoError(f"image of {width}x{height} px is too large for its {n_bytes:,} bytes (at most "
                         f"{budget:,} pixels)")


def _budget(image: Image.Image, n_bytes: int, max_pixels: int) -> int:
    """Pixels this upload may declare. A baseline JPEG is decoded at reduced size (DCT scaling), so
    costs little per pixel; every other image is decoded in full, and a progressive JPEG keeps all its
    DCT coefficients in memory (up to 6 bytes a pixel), so those get a budget proportional to their size."""
    progressive = image.info.get("progressive") or image.info.get("progression")
    if image.format in ("JPEG", "MPO") and not progressive:
        return max_pixels
    return min(max_pixels, max(FREE_PIXELS, int(PIXELS_PER_BYTE * n_bytes)))


def _exif(image: Image.Image) -> tuple[int, float | None]:
    """EXIF orientation (1-8; 1 when absent or unreadable) and FocalLengthIn35mmFilm (mm or None)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data" warnings: the pixels are still good
            exif = image.getexif()
            orientation = int(exif.get(ORIENTATION_TAG, 1))
            focal = exif.get_ifd(EXIF_IFD).get(FOCAL_35MM_TAG)
    except Exception:  # noqa: BLE001
        return 1, None
    focal = float(focal) if isinstance(focal, (int, float)) and 0 < float(focal) < 10_000 else None
    return (orientation if orientation in TRANSPOSES else 1), focal


def _draft_size(size: tuple[int, int], max_side_px: int) -> tuple[int, int]:
    """The size to ask `draft` for: the image scaled so that its longest side is max_side_px; draft
    picks the largest DCT reduction that keeps both sides at least that."""
    factor = min(1.0, max_side_px / max(size))
    return max(1, math.ceil(size[0] * factor)), max(1, math.ceil(size[1] * factor))


def _decoded_small(image: Image.Image, max_side_px: int) -> Image.Image:
    """Decode and shrink to fit max_side_px (aspect kept, never upscaled), in a mode Pillow resamples."""
    # Pillow's decoders raise many exception types (OSError, SyntaxError, struct.error, EOFError...) on
    # corrupt or truncated files; every one of them means "a broken upload", never a server fault.
    try:
        image.load()
        image = _resamplable(image)
        factor = max_side_px / max(image.size)
        if factor >= 1:
            return image
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    except Exception as exc:  # noqa: BLE001
        raise PhotoError(f"cannot decode image: {exc or type(exc).__name__}") from None


def _resamplable(image: Image.Image) -> Image.Image:
    """image in a mode that resize filters properly: L, LA, RGB, RGBA, I or F (palette images would be
    resized by nearest neighbour, CMYK and 1-bit images not at all)."""
    if image.mode in SIXTEEN_BIT_MODES:
        return image.convert("I")
    if image.mode in ("L", "LA", "RGB", "RGBA", "I", "F"):
        return image
    has_alpha = image.mode in ALPHA_MODES or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _oriented(image: Image.Image, orientation: int) -> Image.Image:
    return image.transpose(TRANSPOSES[orientation]) if orientation in TRANSPOSES else image


def _rgb(image: Image.Image, source_mode: str) -> Image.Image:
    """A small image of any resamplable mode -> 8-bit RGB, alpha on white. source_mode: the file's
    mode (16-bit samples are scaled 65535 -> 255; 32-bit ones, of unknown scale, stretched)."""
    if image.mode == "I" and source_mode in SIXTEEN_BIT_MODES:
        image = Image.fromarray((np.asarray(image, np.float64) / 257).round().clip(0, 255).astype(np.uint8))
    elif image.mode in ("I", "F"):
        array = np.asarray(image, np.float64)
        span = max(float(array.max() - array.min()), 1e-9)
        image = Image.fromarray(((array - array.min()) / span * 255).round().astype(np.uint8))
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")


def square_image(image: Image.Image, side_px: int, fill: int = 255) -> np.ndarray:
    """An RGB image of any size -> (side_px, side_px, 3) uint8: resized so that its longest side is
    side_px, centred on `fill` (renders are square, and the whole seat must stay in the frame)."""
    factor = side_px / max(image.size)
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    if size != image.size:
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    out = np.full((side_px, side_px, 3), fill, dtype=np.uint8)
    top, left = (side_px - size[1]) // 2, (side_px - size[0]) // 2
    out[top:top + size[1], left:left + size[0]] = np.asarray(image.convert("RGB"))
    return out
