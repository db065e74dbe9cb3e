"""Turning library results into API responses: URLs and response models."""

from __future__ import annotations

from urllib.parse import quote

import numpy as np

from app.schemas import (
    Category,
    ClassifyResponse,
    ModelInfo,
    ModelResult,
    Pose,
    PoseAlternative,
    SearchResponse,
    SeatKinds,
    SeatObject,
)
from app.schemas import Symmetry as SymmetryOut
from index.pose import PoseEstimate, PoseMode, side_label
from index.scene import PhotoAnswer, SeatAnswer
from index.search import ModelMatch, SearchAnswer
from index.store import ModelRecord
from index.symmetry import Symmetry, record_symmetry
from render.cameras import camera_to_angles

UNKNOWN_SYMMETRY = SymmetryOut(label="unknown", rotation_order=None, mirror_left_right=None,
                               mirror_front_back=None, azimuth_ambiguous=None)


def model_path(model_id: str) -> str:
    return f"/api/models/{quote(model_id, safe='')}"


def view_url(view_id: int) -> str:
    return f"/api/views/{view_id}.jpg"


def glb_url(record: ModelRecord) -> str | None:
    return f"{model_path(record.model_id)}/model.glb" if record.extra.get("glb_path") else None


def source_url(record: ModelRecord) -> str:
    return f"{model_path(record.model_id)}/source"


def pose(camera: np.ndarray) -> Pose:
    """Pose of a camera vector (3,) (any length, canonical frame)."""
    polar, azimuth = camera_to_angles(camera)
    return Pose(polar_deg=round(float(polar), 2), azimuth_deg=round(float(azimuth), 2),
                camera=[round(float(c), 5) for c in np.asarray(camera) / np.linalg.norm(camera)])


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _camera(camera) -> list[float]:
    return [round(float(c), 5) for c in camera]


def symmetry_out(symmetry: Symmetry | None) -> SymmetryOut:
    if symmetry is None:
        return UNKNOWN_SYMMETRY
    return SymmetryOut(label=symmetry.label, rotation_order=symmetry.rotation_order,
                       mirror_left_right=symmetry.mirror_left_right,
                       mirror_front_back=symmetry.mirror_front_back,
                       azimuth_ambiguous=symmetry.azimuth_ambiguous)


def alternative(mode: PoseMode) -> PoseAlternative:
    return PoseAlternative(polar_deg=round(mode.polar_deg, 2), azimuth_deg=round(mode.azimuth_deg, 2),
                           camera=_camera(mode.camera), probability=round(mode.probability, 4),
                           side=side_label(mode.azimuth_deg))


def pose_out(estimate: PoseEstimate) -> Pose:
    """A result's pose: the headline mode, its probability and the alternative modes."""
    return Pose(polar_deg=round(estimate.polar_deg, 2), azimuth_deg=round(estimate.azimuth_deg, 2),
                camera=_camera(estimate.camera), probability=round(min(estimate.probability, 1.0), 4),
                alternatives=[alternative(m) for m in estimate.alternatives])


def model_result(match: ModelMatch) -> ModelResult:
    record, estimate = match.record, match.pose
    return ModelResult(
        model_id=record.model_id, name=record.name, seat_kind=record.seat_kind, score=round(match.score, 4),
        pose=pose_out(estimate), expected_error_deg=round(estimate.expected_error_deg, 2),
        error_90_deg=_round(estimate.error_90_deg), expected_error_calibrated=estimate.calibrated,
        symmetry=symmetry_out(match.symmetry), angular_error_deg=_round(match.angular_error_deg),
        symmetric_angular_error_deg=_round(match.symmetric_error_deg),
        pose_refined=match.refined, refine_status=match.refine_status,
        view_url=view_url(match.best_view_id), model_url=glb_url(record), source_url=source_url(record),
        licence=record.licence, creator=record.creator, source=record.source,
    )


def categories(answer: SearchAnswer) -> list[Category]:
    return [Category(label=k, probability=round(p, 4)) for k, p in answer.categories]


def search_response(answer: SearchAnswer, photo: PhotoAnswer | None = None) -> SearchResponse:
    """The answer (the main seat's); with `photo`, also its detected flag and every seat."""
    objects = [seat_object(seat) for seat in photo.objects] if photo else []
    return SearchResponse(categories=categories(answer), results=[model_result(m) for m in answer.matches],
                          detected=bool(photo and photo.detected), objects=objects)


def seat_kinds(seat: SeatAnswer) -> SeatKinds:
    return SeatKinds(box=[round(v, 1) for v in seat.box_px], label=seat.label, score=round(seat.score, 4),
                     categories=categories(seat.answer))


def seat_object(seat: SeatAnswer) -> SeatObject:
    axis = None if seat.axis_camera is None else pose(seat.axis_camera)
    return SeatObject(**seat_kinds(seat).model_dump(), results=[model_result(m) for m in seat.answer.matches],
                      axis_pose=axis)


def classify_response(photo: PhotoAnswer) -> ClassifyResponse:
    return ClassifyResponse(categories=categories(photo.answer), detected=photo.detected,
                            objects=[seat_kinds(seat) for seat in photo.objects])


def model_info(record: ModelRecord, views: int, symmetry: Symmetry | None = None) -> ModelInfo:
    """symmetry: the model's (e.g. the searcher's, detected after indexing); default: its record's."""
    return ModelInfo(
        model_id=record.model_id, name=record.name, seat_kind=record.seat_kind, category=record.category,
        licence=record.licence, creator=record.creator, source=record.source, views=views,
        model_url=glb_url(record), source_url=source_url(record),
        icon_url=f"{model_path(record.model_id)}/icon" if record.extra.get("icon_path") else None,
        symmetry=symmetry_out(symmetry or record_symmetry(record)),
    )
