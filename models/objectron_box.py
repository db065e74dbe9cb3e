"""Objectron's 9-keypoint box: vertex order, the EPnP lift of 2D keypoints to 3D, the box fit, and the
camera direction in our polar/azimuth frame.

Follows MediaPipe's objectron calculators (mediapipe/modules/objectron/calculators: epnp.cc, box.cc,
decoder.cc Lift2DTo3D). The box frame is x = right, y = up, z = front, with the vertex order

    0: centre,  1: (-x,-y,-z)  2: (-x,-y,+z)  3: (-x,+y,-z)  4: (-x,+y,+z)
                5: (+x,-y,-z)  6: (+x,-y,+z)  7: (+x,+y,-z)  8: (+x,+y,+z)

(box.cc names +y the top face and +z the front face; the Objectron evaluation takes y as up and z as out
of the screen). That is our canonical frame too (render/cameras.py: x right as seen from the front, y up,
z front), so the camera position expressed in the box frame is directly our camera vector.

Cameras are OpenGL's, as in MediaPipe and our renderer: x right, y up, looking down -z (objects at z < 0).
Image keypoints are normalised: x right in [0, 1], y down in [0, 1]; NDC is (2x - 1, 1 - 2y) with the
principal point at the image centre.
"""

from __future__ import annotations

import numpy as np

# Vertex i (1..8) = c0 + sx (c1 - c0) + sy (c2 - c0) + sz (c3 - c0) with control points c0 = centre,
# c1 = right face centre, c2 = top face centre, c3 = front face centre (epnp.cc's epnp_alpha).
SIGNS = np.array([(sx, sy, sz) for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
EPNP_ALPHA = np.column_stack([1.0 - SIGNS.sum(axis=1), SIGNS])  # (8, 4)
UNIT_BOX = np.vstack([np.zeros(3), SIGNS / 2.0])  # (9, 3): centre then vertices 1..8
# Pairs of vertices along each box axis (x, y, z), as box.cc's edges_.
AXIS_EDGES = (((1, 5), (2, 6), (3, 7), (4, 8)), ((1, 3), (5, 7), (2, 4), (6, 8)),
              ((1, 2), (3, 4), (5, 6), (7, 8)))


def focal_ndc(yfov_deg: float, width_px: int, height_px: int) -> tuple[float, float]:
    """(fx, fy) of a pinhole camera in NDC units (focal length over half the image side)."""
    if not 0 < yfov_deg < 180 or width_px <= 0 or height_px <= 0:
        raise ValueError(f"bad camera: {yfov_deg=}, {width_px=}, {height_px=}")
    fy = 1.0 / np.tan(np.radians(yfov_deg) / 2.0)
    return fy * height_px / width_px, fy


def lift_box(keypoints: np.ndarray, focal: tuple[float, float]) -> np.ndarray:
    """EPnP lift of 9 normalised image keypoints (centre first) to box points in the camera frame.

    The 8 vertices are written in 4 control points (epnp.cc); their 12 coordinates are the null vector of
    the (16, 12) projection system, sign chosen so the centre lies in front (z < 0). The centre keypoint
    itself is not used, as in MediaPipe. Returns (9, 3) float64, known up to one positive scale.
    """
    points = np.asarray(keypoints, dtype=np.float64)
    if points.shape != (9, 2):
        raise ValueError(f"keypoints must have shape (9, 2), got {points.shape}")
    fx, fy = focal
    x_ndc, y_ndc = points[1:, 0] * 2 - 1, 1 - points[1:, 1] * 2
    system = np.zeros((16, 12))
    for j in range(4):
        system[0::2, 3 * j] = fx * EPNP_ALPHA[:, j]
        system[0::2, 3 * j + 2] = x_ndc * EPNP_ALPHA[:, j]
        system[1::2, 3 * j + 1] = fy * EPNP_ALPHA[:, j]
        system[1::2, 3 * j + 2] = y_ndc * EPNP_ALPHA[:, j]
    _, vectors = np.linalg.eigh(system.T @ system)
    control = vectors[:, 0].reshape(4, 3)
    if control[0, 2] > 0:
        control = -control
    return np.vstack([control[0], EPNP_ALPHA @ control])


def fit_box(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Box pose from 9 camera-frame points (box.cc Fit): sizes are mean edge lengths per axis, then the
    least-squares affine map from the sized unit box, orthogonalised by SVD.

    Returns rotation (3, 3) box -> camera, translation (3,), size (3,) along box x, y, z (same scale as
    the points) and `mirrored`: True when the affine map was a reflection (inconsistent keypoints);
    MediaPipe keeps U V^T then, an improper matrix; we return the nearest proper rotation instead.
    """
    points = np.asarray(points, dtype=np.float64)
    size = np.array([np.mean([np.linalg.norm(points[a] - points[b]) for a, b in edges])
                     for edges in AXIS_EDGES])
    design = np.hstack([UNIT_BOX * size, np.ones((9, 1))])
    solution, *_ = np.linalg.lstsq(design, points, rcond=None)
    u, _, vt = np.linalg.svd(solution[:3].T)
    mirrored = bool(np.linalg.det(u @ vt) < 0)
    rotation = u @ np.diag([1.0, 1.0, -1.0 if mirrored else 1.0]) @ vt
    return rotation, solution[3], size, mirrored


def box_camera(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Unit vector from the box centre to the camera, in the box frame (= our canonical frame). (3,)"""
    camera = -np.asarray(rotation, dtype=np.float64).T @ np.asarray(translation, dtype=np.float64)
    norm = np.linalg.norm(camera)
    if norm == 0:
        raise ValueError("box centre at the camera centre")
    return camera / norm


def yaw_matrix(angle_deg: float) -> np.ndarray:
    """Rotation about the up axis (y) by angle_deg, counter-clockwise seen from above: z turns to x. (3, 3)"""
    a = np.radians(angle_deg)
    return np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])


def front_choices(camera: np.ndarray, turns_deg: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)) -> np.ndarray:
    """The camera vector if the box's front were each of its vertical faces instead: the camera turned
    about up by each angle. (k, 3) for a (3,) camera; row 0 is the plain answer when turns start at 0."""
    return np.stack([yaw_matrix(t) @ np.asarray(camera, dtype=np.float64) for t in turns_deg])
