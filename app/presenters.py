"""Turning library results into API responses: URLs and response models."""

from __future__ import annotations

from urllib.parse import quote

from app.schemas import Category, ModelInfo, ModelResult, Pose, SearchResponse
from index.search import ModelMatch, SearchAnswer
from index.store import ModelRecord


def model_path(model_id: str) -> str:
    return f"/api/models/{quote(model_id, safe='')}"


def view_url(view_id: int) -> str:
    return f"/api/views/{view_id}.jpg"


def glb_url(record: ModelRecord) -> str | None:
    return f"{model_path(record.model_id)}/model.glb" if record.extra.get("glb_path") else None


def source_url(record: ModelRecord) -> str:
    return f"{model_path(record.model_id)}/source"


def model_result(match: ModelMatch) -> ModelResult:
    record, pose = match.record, match.pose
    return ModelResult(
        model_id=record.model_id, name=record.name, seat_kind=record.seat_kind, score=round(match.score, 4),
        pose=Pose(polar_deg=round(pose.polar_deg, 2), azimuth_deg=round(pose.azimuth_deg, 2),
                  camera=[round(float(c), 5) for c in pose.camera]),
        expected_error_deg=round(pose.expected_error_deg, 2),
        angular_error_deg=None if match.angular_error_deg is None else round(match.angular_error_deg, 2),
        pose_refined=match.refined,
        view_url=view_url(match.best_view_id), model_url=glb_url(record), source_url=source_url(record),
        licence=record.licence, creator=record.creator, source=record.source,
    )


def search_response(answer: SearchAnswer) -> SearchResponse:
    return SearchResponse(
        categories=[Category(label=k, probability=round(p, 4)) for k, p in answer.categories],
        results=[model_result(m) for m in answer.matches],
    )


def model_info(record: ModelRecord, views: int) -> ModelInfo:
    return ModelInfo(
        model_id=record.model_id, name=record.name, seat_kind=record.seat_kind, category=record.category,
        licence=record.licence, creator=record.creator, source=record.source, views=views,
        model_url=glb_url(record), source_url=source_url(record),
        icon_url=f"{model_path(record.model_id)}/icon" if record.extra.get("icon_path") else None,
    )
