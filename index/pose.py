"""Camera pose from a model's matching views: a distribution over the sphere, its modes and their spread.

Every retrieved view of the model votes with weight exp((s - s_best) / temperature) on its cosine similarity
s, times a prior when one is given (index.view_prior: the embedder's viewpoint head). Views are first folded
by the model's rotational symmetry (index.symmetry): each camera is replaced by its equivalent nearest the
best view, so symmetric views of one pose vote together and a round stool's azimuth is not split. Modes are
found greedily: the view with the most weight within `cluster_deg` seeds a mode, the views within
`cluster_deg` of it are its members (their weighted spherical mean is its camera, their share of the total
weight its probability), and the search repeats on the views left. The pose is the most probable mode; the
others above `min_probability` are the alternatives (a back view can match a front view almost as well:
averaging the two would point the camera at the side, so they stay separate modes).

Uncalibrated expected error: the weighted mean angle of the headline mode's views from its camera,
floored at half the view spacing. index.calibration turns the answer's features into a calibrated one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.symmetry import NO_SYMMETRY, Symmetry, fold_cameras
from render.cameras import angular_error_deg, camera_to_angles


@dataclass(frozen=True)
class PoseMode:
    """One mode: camera (3,) unit vector; angles and spread in degrees; probability in [0, 1]."""

    camera: np.ndarray
    polar_deg: float
    azimuth_deg: float
    probability: float
    spread_deg: float


@dataclass(frozen=True)
class PoseEstimate:
    """The headline mode (camera (3,) unit vector; angles in degrees), its expected error (degrees;
    calibrated 68th percentile once index.calibration has been applied), its probability and spread,
    the other modes best first, and the model's symmetry used to fold the views."""

    camera: np.ndarray
    polar_deg: float
    azimuth_deg: float
    expected_error_deg: float
    probability: float = 1.0
    spread_deg: float = 0.0
    alternatives: tuple[PoseMode, ...] = ()
    symmetry: Symmetry = NO_SYMMETRY
    error_90_deg: float | None = None  # calibrated 90th percentile, when calibrated
    calibrated: bool = False


def pairwise_angles_deg(cameras: np.ndarray) -> np.ndarray:
    """Angles between every pair of unit cameras (k, 3). Returns (k, k) float64 degrees."""
    return np.degrees(np.arccos(np.clip(cameras @ cameras.T, -1.0, 1.0)))


def find_modes(cameras: np.ndarray, weights: np.ndarray, cluster_deg: float, max_modes: int,
               ) -> list[PoseMode]:
    """Greedy weighted modes of unit cameras (k, 3) with weights (k,) > 0, most probable first."""
    angles = pairwise_angles_deg(cameras)
    near = angles <= cluster_deg
    remaining = np.ones(len(cameras), dtype=bool)
    modes = []
    while remaining.any() and len(modes) < max_modes:
        density = near @ (weights * remaining)
        seed = int(np.argmax(np.where(remaining, density, -1.0)))
        members = remaining & near[seed]
        modes.append(_mode(cameras[members], weights[members], weights.sum()))
        remaining &= ~members
    return sorted(modes, key=lambda m: -m.probability)


def _mode(cameras: np.ndarray, weights: np.ndarray, total: float) -> PoseMode:
    mean = (weights[:, None] * cameras).sum(axis=0)
    camera = mean / np.linalg.norm(mean) if np.linalg.norm(mean) > 1e-9 else cameras[np.argmax(weights)]
    spread = float(np.average(angular_error_deg(camera, cameras), weights=weights))
    polar, azimuth = camera_to_angles(camera)
    return PoseMode(camera, float(polar), float(azimuth), float(weights.sum() / total), spread)


def estimate_pose(
    cameras: np.ndarray,
    similarities: np.ndarray,
    view_spacing_deg: float,
    symmetry: Symmetry = NO_SYMMETRY,
    cluster_deg: float = 30.0,
    temperature: float = 0.02,
    min_probability: float = 0.1,
    max_modes: int = 4,
    prior: np.ndarray | None = None,
) -> PoseEstimate:
    """cameras (k, 3) of one model's matching views, similarities (k,) cosine, any order; prior (k,) > 0
    optional, multiplies each view's weight (index.view_prior: the viewpoint head's probability of its camera).
    Returns the most probable mode with the others above min_probability as alternatives."""
    cameras = np.asarray(cameras, dtype=np.float64)
    sims = np.asarray(similarities, dtype=np.float64)
    if cameras.ndim != 2 or cameras.shape[1] != 3 or len(cameras) != len(sims) or not len(sims):
        raise ValueError("estimate_pose needs k >= 1 cameras (k, 3) and k similarities")
    cameras = cameras / np.linalg.norm(cameras, axis=1, keepdims=True)
    best = int(np.argmax(sims))
    weights = np.exp((sims - sims[best]) / temperature)
    if prior is not None:
        weights = weights * np.maximum(np.asarray(prior, dtype=np.float64), 1e-12)
    modes = find_modes(fold_cameras(cameras, cameras[best], symmetry), weights, cluster_deg, max_modes)
    head = modes[0]
    alternatives = tuple(m for m in modes[1:] if m.probability >= min_probability)
    return PoseEstimate(head.camera, head.polar_deg, head.azimuth_deg,
                        max(head.spread_deg, view_spacing_deg / 2.0), head.probability, head.spread_deg,
                        alternatives, symmetry)


def view_spacing_deg(cameras: np.ndarray) -> float:
    """Mean angle (degrees) from each camera (n, 3) to its nearest other camera; 0 for n < 2."""
    cameras = np.asarray(cameras, dtype=np.float64)
    if len(cameras) < 2:
        return 0.0
    unit = cameras / np.linalg.norm(cameras, axis=1, keepdims=True)
    cos = unit @ unit.T
    np.fill_diagonal(cos, -1.0)
    return float(np.degrees(np.arccos(np.clip(cos.max(axis=1), -1.0, 1.0))).mean())


def side_label(azimuth_deg: float) -> str:
    """Which side of the model a camera at this azimuth sees: front, right, back or left."""
    return ("front", "right", "back", "left")[int(((azimuth_deg + 45.0) % 360.0) // 90.0)]

