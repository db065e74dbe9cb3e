"""Camera positions on the unit sphere and the polar/azimuth convention.

Canonical object frame (Sweet Home 3D's): x = +X (the object's right side as seen from its front),
y = up, z = front. A camera is the unit vector from the object centre to the camera position.

- polar_deg: angle between the camera vector and +Y; 0 = above, 90 = level, 180 = below.
- azimuth_deg: angle in the ground plane from the front (+Z) towards +X, in [0, 360).
"""

from __future__ import annotations

import numpy as np
import trimesh

SAMPLING_METHODS = ("icosphere", "montecarlo")


def angles_to_camera(polar_deg: np.ndarray | float, azimuth_deg: np.ndarray | float) -> np.ndarray:
    """Unit camera vectors from angles in degrees. Returns (..., 3) float64 (x, y, z)."""
    polar = np.radians(np.asarray(polar_deg, dtype=np.float64))
    azimuth = np.radians(np.asarray(azimuth_deg, dtype=np.float64))
    sin_p = np.sin(polar)
    return np.stack([sin_p * np.sin(azimuth), np.cos(polar), sin_p * np.cos(azimuth)], axis=-1)


def camera_to_angles(cameras: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(polar_deg, azimuth_deg) of camera vectors (..., 3), any non-zero length.

    Returns two arrays of shape (...,), degrees; azimuth in [0, 360).
    """
    c = np.asarray(cameras, dtype=np.float64)
    norm = np.linalg.norm(c, axis=-1)
    if np.any(norm == 0):
        raise ValueError("camera vector of zero length")
    polar = np.degrees(np.arccos(np.clip(c[..., 1] / norm, -1.0, 1.0)))
    azimuth = np.degrees(np.arctan2(c[..., 0], c[..., 2])) % 360.0
    # 360 - tiny can round to 360.0 in float; keep the documented half-open range.
    azimuth = np.where(azimuth >= 360.0, 0.0, azimuth)
    return polar, azimuth


def angular_error_deg(c_true: np.ndarray, c_est: np.ndarray) -> np.ndarray:
    """E(c, c') = arccos(c.c' / (|c| |c'|)) in degrees, for (..., 3) arrays (broadcast)."""
    a = np.asarray(c_true, dtype=np.float64)
    b = np.asarray(c_est, dtype=np.float64)
    denom = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    if np.any(denom == 0):
        raise ValueError("camera vector of zero length")
    cos = np.sum(a * b, axis=-1) / denom
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def icosphere_cameras(subdivisions: int) -> np.ndarray:
    """Vertices of an icosphere (12, 42, 162, 642 ... points). Returns (n, 3) float64, unit rows."""
    if not 0 <= subdivisions <= 6:
        raise ValueError(f"icosphere subdivisions must be 0..6, got {subdivisions}")
    vertices = trimesh.creation.icosphere(subdivisions=subdivisions, radius=1.0).vertices
    return vertices / np.linalg.norm(vertices, axis=1, keepdims=True)


def montecarlo_cameras(n: int, rng: np.random.Generator) -> np.ndarray:
    """n cameras uniform on the sphere. Returns (n, 3) float64, unit rows."""
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def in_polar_range(cameras: np.ndarray, polar_range_deg: tuple[float, float]) -> np.ndarray:
    """Boolean mask (n,) of cameras whose polar angle lies in the closed range (degrees)."""
    low, high = polar_range_deg
    polar, _ = camera_to_angles(cameras)
    eps = 1e-6
    return (polar >= low - eps) & (polar <= high + eps)


def sphere_cameras(
    count: int,
    method: str = "icosphere",
    polar_range_deg: tuple[float, float] = (20.0, 90.0),
    seed: int = 0,
) -> np.ndarray:
    """Cameras on the unit sphere restricted to a polar range, roll 0 implied.

    icosphere: `count` is the subdivision level; every vertex inside the polar range is kept.
    montecarlo: `count` is the number of cameras, sampled uniformly in area inside the range.
    Returns (n, 3) float64 unit vectors, ordered by (polar, azimuth) for icosphere.
    """
    low, high = polar_range_deg
    if not 0.0 <= low <= high <= 180.0:
        raise ValueError(f"polar range must satisfy 0 <= low <= high <= 180, got {polar_range_deg}")
    if method == "icosphere":
        cams = icosphere_cameras(count)
        cams = cams[in_polar_range(cams, polar_range_deg)]
        polar, azimuth = camera_to_angles(cams)
        return cams[np.lexsort((np.round(azimuth, 6), np.round(polar, 6)))]
    if method == "montecarlo":
        return _montecarlo_in_range(count, polar_range_deg, np.random.default_rng(seed))
    raise ValueError(f"unknown camera sampling method {method!r}; expected one of {SAMPLING_METHODS}")


def _montecarlo_in_range(n: int, polar_range_deg: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Area-uniform sampling of the spherical zone: y = cos(polar) is uniform on the zone."""
    if n <= 0:
        raise ValueError(f"montecarlo camera count must be positive, got {n}")
    y_high, y_low = np.cos(np.radians(polar_range_deg))
    y = rng.uniform(y_low, y_high, size=n)
    azimuth = rng.uniform(0.0, 2 * np.pi, size=n)
    r = np.sqrt(np.clip(1.0 - y * y, 0.0, 1.0))
    return np.stack([r * np.sin(azimuth), y, r * np.cos(azimuth)], axis=1)


def look_at_pose(camera: np.ndarray, distance: float) -> np.ndarray:
    """4x4 camera-to-world matrix (OpenGL: camera looks down -Z, +Y up) at distance*camera,
    looking at the origin with roll 0 (image up is the projection of world +Y).

    At the poles (camera parallel to +Y) the image up falls back to -Z / +Z so the front stays
    at the bottom / top of the picture respectively.
    """
    c = np.asarray(camera, dtype=np.float64)
    c = c / np.linalg.norm(c)
    z_axis = c  # camera looks along -z_axis, i.e. towards the origin
    world_up = np.array([0.0, 1.0, 0.0])
    x_axis = np.cross(world_up, z_axis)
    if np.linalg.norm(x_axis) < 1e-8:
        x_axis = np.array([1.0, 0.0, 0.0])
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.cross(z_axis, x_axis)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x_axis, y_axis, z_axis, c * distance
    return pose
