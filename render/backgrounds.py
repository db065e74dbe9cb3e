"""Photo-like backgrounds: tonemapped HDRI panoramas, perspective crops of them, alpha compositing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenEXR


class PanoramaError(ValueError):
    """A panorama file that cannot be read as an RGB image."""


def read_exr(path: Path) -> np.ndarray:
    """Linear HDR pixels of an EXR file. Returns (H, W, 3) float32, scene-referred radiance."""
    try:
        channels = OpenEXR.File(str(path)).channels()
    except Exception as exc:  # OpenEXR raises plain RuntimeError/OSError for any bad file
        raise PanoramaError(f"cannot read EXR {Path(path).name}: {exc}") from exc
    for name in ("RGB", "RGBA"):
        if name in channels:
            return np.asarray(channels[name].pixels[..., :3], dtype=np.float32)
    if all(c in channels for c in "RGB"):
        return np.stack([channels[c].pixels for c in "RGB"], axis=-1).astype(np.float32)
    if "Y" in channels:
        return np.repeat(channels["Y"].pixels[..., None], 3, axis=-1).astype(np.float32)
    raise PanoramaError(f"EXR {Path(path).name} has no RGB or Y channels: {sorted(channels)}")


def tonemap(hdr: np.ndarray, key: float = 0.18, gamma: float = 2.2) -> np.ndarray:
    """Reinhard global tonemapping of linear (H, W, 3) radiance to displayable (H, W, 3) uint8.

    The log-average luminance is mapped to `key` (mid-grey), then L / (1 + L) and display gamma.
    """
    rgb = np.clip(np.nan_to_num(np.asarray(hdr, dtype=np.float64)), 0.0, None)
    luminance = rgb @ np.array([0.2126, 0.7152, 0.0722])
    log_average = np.exp(np.mean(np.log(luminance + 1e-6)))
    scaled = luminance * key / log_average
    mapped = scaled / (1.0 + scaled)
    ratio = np.where(luminance > 0, mapped / np.maximum(luminance, 1e-12), 0.0)
    display = np.clip(rgb * ratio[..., None], 0.0, 1.0) ** (1.0 / gamma)
    return np.round(display * 255).astype(np.uint8)


def load_panorama(path: Path) -> np.ndarray:
    """Equirectangular HDRI (EXR) as a displayable photo. Returns (H, W, 3) uint8."""
    return tonemap(read_exr(path))


def panorama_crop(
    pano: np.ndarray,
    size_px: int,
    rng: np.random.Generator,
    fov_deg: tuple[float, float] = (50.0, 90.0),
    pitch_deg: tuple[float, float] = (-15.0, 15.0),
) -> np.ndarray:
    """A pinhole-camera view of an equirectangular panorama (gnomonic projection, bilinear sampling).

    pano: (H, W, 3) uint8, longitude across the width, latitude +90 (top row) to -90.
    Yaw is uniform over 360 degrees, pitch and field of view uniform in the given ranges (degrees).
    Returns (size_px, size_px, 3) uint8.
    """
    fov = rng.uniform(*fov_deg)
    yaw = np.degrees(rng.uniform(0.0, 2 * np.pi))
    return panorama_view(pano, size_px, yaw, rng.uniform(*pitch_deg), fov)


def panorama_view(pano: np.ndarray, size_px: int, yaw_deg: float, pitch_deg: float, fov_deg: float,
                  ) -> np.ndarray:
    """The square pinhole view of an equirectangular panorama (H, W, 3) uint8 whose optical axis points
    at longitude yaw_deg (0 = the panorama's centre column, positive to the right), latitude pitch_deg,
    with a field of view of fov_deg across. Returns (size_px, size_px, 3) uint8."""
    rays = _camera_rays(size_px, np.radians(fov_deg)) @ _yaw_pitch_matrix(
        np.radians(yaw_deg), np.radians(pitch_deg)).T
    longitude = np.arctan2(rays[..., 0], rays[..., 2])
    latitude = np.arcsin(np.clip(rays[..., 1], -1.0, 1.0))
    height, width = pano.shape[:2]
    cols = (longitude / (2 * np.pi) + 0.5) * width - 0.5
    rows = (0.5 - latitude / np.pi) * height - 0.5
    return _bilinear(pano, rows, cols)


def _camera_rays(size_px: int, fov: float) -> np.ndarray:
    """Unit rays (size, size, 3) through pixel centres; camera looks along +Z, image up = +Y."""
    half = np.tan(fov / 2)
    steps = (np.arange(size_px) + 0.5) / size_px * 2 - 1
    x, y = np.meshgrid(steps * half, -steps * half)
    rays = np.stack([x, y, np.ones_like(x)], axis=-1)
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def _yaw_pitch_matrix(yaw: float, pitch: float) -> np.ndarray:
    """3x3 rotation: tilt up by `pitch` about X, then turn by `yaw` about the vertical Y."""
    cp, sp, cy, sy = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    tilt = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])
    turn = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return turn @ tilt


def _bilinear(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Sample (H, W, C) at fractional pixel coordinates; columns wrap around, rows clamp."""
    height, width = image.shape[:2]
    r0, c0 = np.floor(rows), np.floor(cols)
    fr, fc = (rows - r0)[..., None], (cols - c0)[..., None]
    r0i = np.clip(r0.astype(int), 0, height - 1)
    r1i = np.clip(r0.astype(int) + 1, 0, height - 1)
    c0i, c1i = c0.astype(int) % width, (c0.astype(int) + 1) % width
    pixels = image.astype(np.float32)
    top = pixels[r0i, c0i] * (1 - fc) + pixels[r0i, c1i] * fc
    bottom = pixels[r1i, c0i] * (1 - fc) + pixels[r1i, c1i] * fc
    return np.clip(np.round(top * (1 - fr) + bottom * fr), 0, 255).astype(np.uint8)


def composite(rgba: np.ndarray, background: np.ndarray | tuple[int, int, int]) -> np.ndarray:
    """Alpha-composite renders over a background.

    rgba: (H, W, 4) or (n, H, W, 4) uint8. background: an image broadcastable to the RGB part,
    e.g. (H, W, 3) or (n, H, W, 3) uint8, or one (r, g, b) colour.
    Returns RGB uint8 of shape rgba.shape[:-1] + (3,).
    """
    rgba = np.asarray(rgba)
    if rgba.shape[-1] != 4:
        raise ValueError(f"expected RGBA images (..., 4), got shape {rgba.shape}")
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    back = np.broadcast_to(np.asarray(background, dtype=np.float32), rgba.shape[:-1] + (3,))
    blended = rgba[..., :3].astype(np.float32) * alpha + back * (1.0 - alpha)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)
