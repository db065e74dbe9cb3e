"""Objectron (Google's single-image chair box model) scored like our pose estimate: an outside baseline."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from evaluation.evaluate import pose_summary
from models.objectron import ObjectronPose
from render.cameras import angular_error_deg


def objectron_errors(images: np.ndarray, true_cameras: np.ndarray, estimator: ObjectronPose,
                     crops: list[tuple[float, float, float, float] | None] | None = None,
                     progress: bool = True) -> dict:
    """Objectron's camera estimate on every query image, scored against the true cameras.

    images: (n, H, W, 3) uint8 RGB, taken with the estimator's field of view; true_cameras: (n, 3)
    canonical-frame vectors; crops: optional per-image (x0, y0, x1, y1) object boxes (default whole image).
    Returns {"queries", "detected", "detection_rate", "pose", "pose_front_back", "pose_any_side",
    "per_query"}. The pose summaries (evaluation.evaluate.pose_summary, degrees) cover detected queries only:
    "pose" is the plain answer (the headline); "pose_front_back" takes the better of the box's front and
    back as front; "pose_any_side" the best of its four vertical faces. per_query rows hold the three
    errors (None when not detected), the presence score and the estimated camera.
    """
    cameras = np.asarray(true_cameras, dtype=np.float64)
    if len(images) != len(cameras):
        raise ValueError(f"{len(images)} images but {len(cameras)} cameras")
    crops = crops if crops is not None else [None] * len(images)
    rows = [_query_row(estimator, image, camera, crop) for image, camera, crop
            in tqdm(zip(images, cameras, crops), total=len(cameras), desc="objectron", disable=not progress)]
    detected = [r for r in rows if r["detected"]]
    summary = {"queries": len(rows), "detected": len(detected),
               "detection_rate": len(detected) / len(rows) if rows else float("nan")}
    for key, field in (("pose", "error_deg"), ("pose_front_back", "front_back_error_deg"),
                       ("pose_any_side", "any_side_error_deg")):
        summary[key] = pose_summary(np.array([r[field] for r in detected], dtype=np.float64))
    return {**summary, "per_query": rows}


def _query_row(estimator: ObjectronPose, image: np.ndarray, camera: np.ndarray, crop) -> dict:
    keypoints, presence = estimator.keypoints(image, crop)
    result = estimator.pose(keypoints, presence, image.shape[:2])
    if result is None:
        return {"detected": False, "presence": presence, "error_deg": None, "front_back_error_deg": None,
                "any_side_error_deg": None, "estimated_camera": None}
    errors = angular_error_deg(camera, result.front_choices())  # turns of 0, 90, 180, 270 deg
    return {"detected": True, "presence": result.presence, "error_deg": float(errors[0]),
            "front_back_error_deg": float(min(errors[0], errors[2])),
            "any_side_error_deg": float(errors.min()),
            "estimated_camera": [float(v) for v in result.camera]}
