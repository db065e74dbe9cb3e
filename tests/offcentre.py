"""Renders of a CAD file placed off the image centre under a known camera, for the oblique-ray tests.
Rendered in a spawn worker: this module imports no TensorFlow (Mesa's llvmpipe crashes beside it)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np

# image side (px), field of view (deg), view radius over the object's radius: the seat spans ~33 deg
SIZE_PX, YFOV_DEG, MARGIN = 192, 90.0, 2.5


def render_offcentre(path: str, cameras: np.ndarray, offsets_deg: np.ndarray, directions_deg: np.ndarray,
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each known camera (unit vector, canonical frame; look-at the origin, roll 0), the object moved
    off the optical axis by offsets_deg towards image direction directions_deg (0 = right, 90 = up).
    Returns [(RGBA (SIZE_PX, SIZE_PX, 4) uint8, unit vector from the moved object's centre to the camera)]."""
    from render.cameras import look_at_pose
    from render.mesh import load_scene
    from render.renderer import Renderer

    scene, out = load_scene(Path(path)), []
    with Renderer(SIZE_PX, yfov_deg=YFOV_DEG, margin=MARGIN) as renderer:
        for camera, offset, direction in zip(cameras, offsets_deg, directions_deg):
            pose = look_at_pose(camera, renderer.distance)
            phi = np.radians(direction)
            shift = renderer.distance * np.tan(np.radians(offset)) * (
                np.cos(phi) * pose[:3, 0] + np.sin(phi) * pose[:3, 1])
            moved = scene.copy()
            moved.apply_translation(shift)
            to_camera = renderer.distance * np.asarray(camera) - shift
            out.append((renderer.render(moved, np.asarray(camera)[None])[0], to_camera / np.linalg.norm(to_camera)))
    return out


def offcentre_renders(path: Path, cameras, offsets_deg, directions_deg) -> list[tuple[np.ndarray, np.ndarray]]:
    """render_offcentre in a spawn worker (never in a process that has TensorFlow loaded)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(render_offcentre, (str(path), np.asarray(cameras, dtype=np.float64),
                                             np.asarray(offsets_deg, dtype=np.float64),
                                             np.asarray(directions_deg, dtype=np.float64)))
