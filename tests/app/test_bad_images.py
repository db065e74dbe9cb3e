"""A corpus of awkward uploads: broken files get a clear 4xx JSON error, odd but valid images get results."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from render.cameras import angles_to_camera
from tests.conftest import render_rgb

SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
       b'<rect width="64" height="64" fill="red"/></svg>')
HTML = b"<!DOCTYPE html><html><body><h1>a chair</h1><img src='chair.jpg'></body></html>"


@pytest.fixture(scope="module")
def client(tiny_index_settings, tiny_embedder):
    with TestClient(create_app(tiny_index_settings, tiny_embedder)) as client:
        yield client


@pytest.fixture(scope="module")
def chair(tiny_cad_dir) -> np.ndarray:
    """A held-out 64 px view of the box chair on white, (64, 64, 3) uint8."""
    return render_rgb(tiny_cad_dir / "box_chair.glb", angles_to_camera(60.0, 30.0)[None], 64)[0]


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _noise(height: int = 48, width: int = 64) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _with_png_size(width: int, height: int) -> bytes:
    """A valid 8x8 PNG whose IHDR (CRC fixed up) claims width x height pixels."""
    data = bytearray(_save(Image.fromarray(_noise(8, 8)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _with_gif_size(width: int, height: int) -> bytes:
    data = bytearray(_save(Image.fromarray(_noise()), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)  # the logical screen descriptor
    return bytes(data)


def _with_jpeg_size(width: int, height: int) -> bytes:
    data = bytearray(_save(Image.fromarray(_noise()), "JPEG"))
    frame = data.find(b"\xff\xc0")  # SOF0: marker, length (2), precision (1), height, width
    data[frame + 5:frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _tiff_with_rational_strip_offsets() -> bytes:
    """A TIFF whose StripOffsets tag is typed RATIONAL: Pillow's loader raised TypeError (was a 500)."""
    data = bytearray(_save(Image.fromarray(_noise(16, 16)), "TIFF"))
    ifd = struct.unpack("<I", data[4:8])[0]
    for entry in range(ifd + 2, ifd + 2 + 12 * struct.unpack("<H", data[ifd:ifd + 2])[0], 12):
        if struct.unpack("<H", data[entry:entry + 2])[0] == 273:
            data[entry + 2:entry + 4] = struct.pack("<H", 5)
    return bytes(data)


def _truncated(fmt: str, size: tuple[int, int] | None = None) -> bytes:
    """The first half of a file (a large JPEG is decoded at reduced size: still an error)."""
    image = Image.fromarray(_noise())
    data = _save(image.resize(size) if size else image, fmt)
    return data[:len(data) // 2]


BROKEN = {  # name: (payload, status, fragment of the detail)
    "zero bytes": (lambda: b"", 400, "empty file"),
    "text": (lambda: b"just some text, no picture here\n" * 4, 400, "not a recognised image"),
    "svg": (lambda: SVG, 400, "not a recognised image"),
    "html": (lambda: HTML, 400, "not a recognised image"),
    "truncated jpeg": (lambda: _truncated("JPEG"), 400, "cannot decode image"),
    "truncated png": (lambda: _truncated("PNG"), 400, "cannot decode image"),
    "jpeg header only": (lambda: _save(Image.fromarray(_noise()), "JPEG")[:200], 400, "cannot"),
    "png bomb 100k x 100k": (lambda: _with_png_size(100_000, 100_000), 400, "too large"),
    "png 30000 x 10 (header)": (lambda: _with_png_size(30_000, 10), 400, "30000x10 px is too elongated"),
    "png 20000 x 8": (lambda: _save(Image.new("RGB", (20_000, 8)), "PNG"), 400, "20000x8 px is too elongated"),
    "png 6000 x 8": (lambda: _save(Image.new("RGB", (6_000, 8)), "PNG"), 400, "6000x8 px is too elongated"),
    "png 6000 x 6000 solid": (lambda: _save(Image.new("RGB", (6000, 6000)), "PNG"), 400,
                              "6000x6000 px is too large for its"),
    "truncated 4000 x 3000 jpeg": (lambda: _truncated("JPEG", (4000, 3000)), 400, "cannot decode image"),
    "gif bomb 65535 x 65535": (lambda: _with_gif_size(65_535, 65_535), 400, "too large"),
    "jpeg bomb 65500 x 65500": (lambda: _with_jpeg_size(65_500, 65_500), 400, "too large"),
    "tiff with corrupt tags": (_tiff_with_rational_strip_offsets, 400, "cannot decode image"),
    "icon format": (lambda: _save(Image.fromarray(_noise()), "ICO"), 400, "format ICO is not accepted"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_uploads_get_a_clear_json_4xx(client, name):
    payload, status, fragment = BROKEN[name]
    response = client.post("/api/search", files={"image": ("upload", payload(), "application/octet-stream")})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert fragment in response.json()["detail"]


def _animated_gif(first: np.ndarray) -> bytes:
    frames = [Image.fromarray(first)] + [Image.fromarray(np.full_like(first, v)) for v in (0, 128)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)


def _palette_with_transparent_background(chair: np.ndarray) -> bytes:
    rgba = np.dstack([chair, np.where(chair.min(axis=2) > 250, 0, 255).astype(np.uint8)])
    image = Image.fromarray(rgba).quantize(colors=64, method=Image.Quantize.FASTOCTREE)
    assert "transparency" in image.info or image.mode == "P"
    return _save(image, "PNG")


def _broken_exif_jpeg(chair: np.ndarray) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "camera maker"
    data = bytearray(_save(Image.fromarray(chair), "JPEG", exif=exif, quality=95))
    start = data.find(b"Exif\x00\x00") + 6
    data[start + 4:start + 8] = b"\xff\xff\xff\x7f"  # IFD0 offset far past the end of the block
    return bytes(data)


VALID = {  # name: chair (64, 64, 3) uint8 -> bytes of a file a user could well send
    "cmyk jpeg": lambda c: _save(Image.fromarray(c).convert("CMYK"), "JPEG", quality=95),
    "16-bit png": lambda c: _save(Image.fromarray(c.mean(axis=2).astype(np.uint16) * 257), "PNG"),
    "palette png with transparency": _palette_with_transparent_background,
    "animated gif": _animated_gif,
    "webp": lambda c: _save(Image.fromarray(c), "WEBP", quality=90),
    "grayscale jpeg": lambda c: _save(Image.fromarray(c).convert("L"), "JPEG", quality=95),
    "rgba png": lambda c: _save(Image.fromarray(np.dstack([c, np.full(c.shape[:2], 255, np.uint8)])), "PNG"),
    "bmp": lambda c: _save(Image.fromarray(c), "BMP"),
    "tiff": lambda c: _save(Image.fromarray(c), "TIFF"),
    "jpeg with a broken exif block": _broken_exif_jpeg,
}


@pytest.mark.parametrize("name", list(VALID))
def test_valid_but_unusual_images_find_the_chair(client, chair, name):
    response = client.post("/api/search", files={"image": ("photo", VALID[name](chair))})
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["model_id"] == "test#box_chair"


def _mutations(seed: int, count: int) -> list[bytes]:
    """Seeded byte flips in the headers (and some truncations) of small valid files of each format."""
    rng = np.random.default_rng(seed)
    sources = [_save(Image.fromarray(_noise()), fmt) for fmt in ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")]
    out = []
    for index in range(count):
        data = bytearray(sources[index % len(sources)])
        for position in rng.integers(0, min(len(data), 300), size=rng.integers(1, 6)):
            data[position] = rng.integers(0, 256)
        out.append(bytes(data[:rng.integers(len(data) // 3, len(data) + 1)]))
    return out


def test_mangled_files_never_get_a_server_error(client):
    statuses = {client.post("/api/classify", files={"image": ("m", data)}).status_code
                for data in _mutations(seed=5, count=60)}
    assert statuses <= {200, 400}, statuses
    assert 400 in statuses
