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
    SearchResponse,
    SeatKinds,
    SeatObject,
)
from index.scene import PhotoAnswer, SeatAnswer
from index.search import ModelMatch, SearchAnswer
from index.store import ModelRecord
from render.cameras import camera_to_angles


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


def model_result(match: ModelMatch) -> ModelResult:
    record = match.record
    return ModelResult(
        model_id=record.model_id, name=record.name, seat_kind=record.seat_kind, score=round(match.score, 4),
        pose=pose(match.pose.camera),
        expected_error_deg=round(match.pose.expected_error_deg, 2),
        angular_error_deg=None if match.angular_error_deg is None else round(match.angular_error_deg, 2),
        pose_refined=match.refined,
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


def model_info(record: ModelRecord, views: int) -> ModelInfo:
    return ModelInfo(
        model_id=record.model_id, name=record.name, seat_kind=record.seat_kind, category=record.category,
        licence=record.licence, creator=record.creator, source=record.source, views=views,
        model_url=glb_url(record), source_url=source_url(record),
        icon_url=f"{model_path(record.model_id)}/icon" if record.extra.get("icon_path") else None,
    )
