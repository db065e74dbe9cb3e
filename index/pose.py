"""Camera pose from a model's best-matching views: weighted spherical mean and its expected error.

Rule (documented in README): take the model's best view as the anchor; the views of that model among the
query's nearest neighbours that lie within `cluster_deg` of the anchor vote for the pose with weights
exp((s - s_best) / temperature) on their cosine similarities s. The estimate is the normalised weighted
mean of their camera vectors (a spherical mean, fine for clusters much smaller than a hemisphere). Views
outside the cluster are ignored because chairs are often nearly symmetric: a back view can match a front
view almost as well, and averaging the two would point the camera at the side.

Expected error: the weighted mean angular distance of the cluster's views from the estimate, floored at
half the catalogue's view spacing (the sampling resolution: with a single matching view we cannot be more
precise than that).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from render.cameras import angular_error_deg, camera_to_angles


@dataclass(frozen=True)
class PoseEstimate:
    """camera: (3,) unit vector in the canonical frame; angles in degrees."""

    camera: np.ndarray
    polar_deg: float
    azimuth_deg: float
    expected_error_deg: float


def estimate_pose(
    cameras: np.ndarray,
    similarities: np.ndarray,
    view_spacing_deg: float,
    cluster_deg: float = 30.0,
    temperature: float = 0.02,
) -> PoseEstimate:
    """cameras (k, 3) of one model's matching views, similarities (k,) cosine, any order."""
    cameras = np.asarray(cameras, dtype=np.float64)
    sims = np.asarray(similarities, dtype=np.float64)
    if cameras.ndim != 2 or cameras.shape[1] != 3 or len(cameras) != len(sims) or not len(sims):
        raise ValueError("estimate_pose needs k >= 1 cameras (k, 3) and k similarities")
    best = int(np.argmax(sims))
    near = angular_error_deg(cameras[best], cameras) <= cluster_deg
    weights = np.exp((sims[near] - sims[best]) / temperature)
    mean = (weights[:, None] * cameras[near]).sum(axis=0)
    camera = mean / np.linalg.norm(mean) if np.linalg.norm(mean) > 1e-9 else cameras[best]
    spread = float(np.average(angular_error_deg(camera, cameras[near]), weights=weights))
    polar, azimuth = camera_to_angles(camera)
    return PoseEstimate(camera, float(polar), float(azimuth), max(spread, view_spacing_deg / 2.0))


def view_spacing_deg(cameras: np.ndarray) -> float:
    """Mean angle (degrees) from each camera (n, 3) to its nearest other camera; 0 for n < 2."""
    cameras = np.asarray(cameras, dtype=np.float64)
    if len(cameras) < 2:
        return 0.0
    unit = cameras / np.linalg.norm(cameras, axis=1, keepdims=True)
    cos = unit @ unit.T
    np.fill_diagonal(cos, -1.0)
    return float(np.degrees(np.arccos(np.clip(cos.max(axis=1), -1.0, 1.0))).mean())
