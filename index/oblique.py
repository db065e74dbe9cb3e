"""Pose of an off-centre seat: the rotation between the photo's optical axis and the ray through the seat.

A crop of an off-centre seat shows it as a camera turned towards it would: the searcher's camera (the
index's views are look-at views, roll 0) is the view *along the ray* through the box centre, which is the
README's pose (the unit vector from the seat's centre to the camera) and needs no correction. The photo's
camera did not turn, though: its optical axis is off that ray. `axis_camera` turns the searcher's camera
by the rotation between ray and axis, giving the camera *orientation* relative to the seat: the camera
the seat would have if it sat on the optical axis with the same orientation relative to the camera (the
egocentric pose; KITTI's rotation_y against the crop's observation angle alpha). Measured on off-centre
renders (README "Seat detection"), the uncorrected camera is the one that matches the centre-to-camera
direction, and the turned one matches the optical axis. `ray_rotation` is the rotation itself. Camera frame: OpenGL (x right, y up, the camera looks down
-z); pixels: x right, y down, principal point at the image centre.

Focal length: from EXIF FocalLengthIn35mmFilm when the photo has it (f_px = f_35 / 43.27 mm x image
diagonal px, the 35 mm frame's diagonal being 43.27 mm), else DEFAULT_FOCAL_35MM_MM = 28 mm, a phone's
main camera (diagonal field of view 75.4 deg, horizontal 65.5 deg on 4:3).
"""

from __future__ import annotations

import numpy as np

from render.cameras import look_at_pose

FRAME_35MM_DIAGONAL_MM = float(np.hypot(36.0, 24.0))  # 43.27 mm
DEFAULT_FOCAL_35MM_MM = 28.0


def focal_px(image_size: tuple[int, int], focal_35mm_mm: float | None = None) -> float:
    """Focal length in pixels of an image of (width, height) px from its 35 mm-equivalent focal length in
    mm (None or non-positive: DEFAULT_FOCAL_35MM_MM)."""
    focal = focal_35mm_mm if focal_35mm_mm and focal_35mm_mm > 0 else DEFAULT_FOCAL_35MM_MM
    return float(focal / FRAME_35MM_DIAGONAL_MM * np.hypot(*image_size))


def pixel_ray(point_px: tuple[float, float], image_size: tuple[int, int], focal: float) -> np.ndarray:
    """Unit ray (3,) in the OpenGL camera frame through pixel (x, y) of an image of (width, height) px
    taken with focal length `focal` px."""
    x, y = point_px
    ray = np.array([x - image_size[0] / 2, image_size[1] / 2 - y, -focal], dtype=np.float64)
    return ray / np.linalg.norm(ray)


def ray_rotation(point_px: tuple[float, float], image_size: tuple[int, int], focal: float) -> np.ndarray:
    """(3, 3) the smallest rotation (camera frame) taking the optical axis (0, 0, -1) to the ray through
    pixel point_px (Rodrigues; identity at the image centre)."""
    axis_dir, ray = np.array([0.0, 0.0, -1.0]), pixel_ray(point_px, image_size, focal)
    axis = np.cross(axis_dir, ray)
    sin, cos = np.linalg.norm(axis), float(axis_dir @ ray)
    if sin < 1e-12:
        return np.eye(3)
    k = axis / sin
    skew = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * skew + (1 - cos) * skew @ skew


def axis_camera(camera: np.ndarray, point_px: tuple[float, float], image_size: tuple[int, int],
                focal: float) -> np.ndarray:
    """The searcher's camera (3,) (unit, object centre -> camera, canonical frame) of a seat whose box
    centre is at point_px, turned from the ray to the optical axis. Returns (3,) unit float64."""
    view = look_at_pose(np.asarray(camera, dtype=np.float64), 1.0)[:3, :3]  # camera -> canonical frame
    # The crop is the view of a camera turned by R onto the ray; the photo's camera is R^T of it.
    backward = ray_rotation(point_px, image_size, focal).T @ np.array([0.0, 0.0, 1.0])
    turned = view @ backward
    return turned / np.linalg.norm(turned)

