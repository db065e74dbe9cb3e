"""Panorama reading and tonemapping, gnomonic crops, alpha compositing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from render.backgrounds import PanoramaError, composite, load_panorama, panorama_crop, read_exr, tonemap

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def blender_worlds() -> Path:
    """The HDRI panoramas `photo2cad setup` fetches (Debian's blender-data, unpacked into the repository's
    data/packages, not installed), fetched here if setup has not run: no network -> the test errors."""
    from app.bootstrap import hdri_dir
    from app.settings import Settings

    return hdri_dir(Settings(data_dir=REPO / "data", _env_file=None))


def _write_exr(path: Path, rgb: np.ndarray) -> None:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {"RGB": rgb.astype(np.float32)}).write(str(path))


def test_read_exr_and_tonemap(tmp_path: Path) -> None:
    hdr = np.geomspace(1e-3, 1e4, 16 * 32 * 3).reshape(16, 32, 3).astype(np.float32)
    _write_exr(tmp_path / "sky.exr", hdr)
    np.testing.assert_allclose(read_exr(tmp_path / "sky.exr"), hdr, rtol=1e-6)
    image = load_panorama(tmp_path / "sky.exr")
    assert image.shape == (16, 32, 3) and image.dtype == np.uint8
    grey = tonemap(np.repeat(np.geomspace(1e-3, 1e4, 50)[None, :, None], 3, axis=2))
    assert np.all(np.diff(grey[0, :, 0].astype(int)) >= 0)  # brighter radiance never displays darker
    assert grey.min() < 20 and grey.max() > 235


def test_unreadable_exr(tmp_path: Path) -> None:
    (tmp_path / "bad.exr").write_text("not an image")
    with pytest.raises(PanoramaError, match="cannot read EXR"):
        read_exr(tmp_path / "bad.exr")


def _latitude_pano(boundary_deg: float, height: int = 720) -> np.ndarray:
    """(H, 2H, 3) panorama: white above latitude `boundary_deg`, black below."""
    latitude = 90 - (np.arange(height) + 0.5) / height * 180
    pano = np.zeros((height, 2 * height, 3), dtype=np.uint8)
    pano[latitude > boundary_deg] = 255
    return pano


def test_crop_is_a_gnomonic_projection() -> None:
    size = 64
    rng = np.random.default_rng(0)
    crop = panorama_crop(_latitude_pano(20.0), size, rng, fov_deg=(90, 90), pitch_deg=(0, 0))
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    boundary = (crop[..., 0] > 127).sum(axis=0)  # rows above the latitude circle, per column
    # Pinhole camera, fov 90: the circle meets the centre column at height tan(20 deg) * size/2.
    assert boundary[size // 2] == pytest.approx(size / 2 - np.tan(np.radians(20)) * size / 2, abs=1.5)
    # A circle of latitude bows upwards towards the image edges; a plain rectangular cut would be flat.
    assert boundary[0] < boundary[size // 2] - 3 and boundary[-1] < boundary[size // 2] - 3


def test_crop_is_seeded() -> None:
    rng = np.random.default_rng(7)
    pano = rng.integers(0, 256, size=(64, 128, 3), dtype=np.uint8)
    first = panorama_crop(pano, 32, np.random.default_rng(1))
    np.testing.assert_array_equal(first, panorama_crop(pano, 32, np.random.default_rng(1)))
    assert not np.array_equal(first, panorama_crop(pano, 32, np.random.default_rng(2)))


def test_composite_blends_by_alpha() -> None:
    rgba = np.zeros((2, 2, 2, 4), dtype=np.uint8)
    rgba[..., :3] = 200
    rgba[:, 0, 0, 3], rgba[:, 0, 1, 3] = 255, 128
    background = np.full((2, 2, 3), 10, dtype=np.uint8)
    out = composite(rgba, background)
    assert out.shape == (2, 2, 2, 3) and out.dtype == np.uint8
    assert out[0, 0, 0, 0] == 200 and out[0, 1, 1, 0] == 10
    assert out[1, 0, 1, 0] == round(200 * 128 / 255 + 10 * 127 / 255)
    np.testing.assert_array_equal(composite(rgba[0], (0, 255, 0))[1, 1], [0, 255, 0])
    with pytest.raises(ValueError, match="RGBA"):
        composite(rgba[..., :3], background)


def test_real_hdri_looks_like_a_photo(blender_worlds: Path) -> None:
    pano = load_panorama(blender_worlds / "forest.exr")
    assert pano.ndim == 3 and pano.shape[1] == 2 * pano.shape[0] and pano.dtype == np.uint8
    assert 40 < pano.mean() < 200 and (pano == 255).mean() < 0.1
    crop = panorama_crop(pano, 64, np.random.default_rng(0))
    assert crop.std() > 10  # textured scene, not a flat colour
