"""Response models of the HTTP API (the shapes are a contract: extend them, don't rename fields)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Category(BaseModel):
    label: str = Field(examples=["chair"])
    probability: float = Field(ge=0.0, le=1.0, examples=[0.81])


class Pose(BaseModel):
    polar_deg: float = Field(description="0 = camera above, 90 = level with the object centre",
                             examples=[62.0])
    azimuth_deg: float = Field(description="from the model's front towards its +X side, [0, 360)",
                               examples=[135.0])
    camera: list[float] = Field(description="unit vector centre->camera; x = +X, y = up, z = front",
                                examples=[[0.62, 0.47, -0.62]])


class ModelResult(BaseModel):
    model_id: str = Field(examples=["eTeks#chair"])
    name: str = Field(examples=["Chair"])
    seat_kind: str | None = Field(examples=["chair"])
    score: float = Field(ge=0.0, le=1.0, description="cosine similarity of the best view, clipped",
                         examples=[0.93])
    pose: Pose
    expected_error_deg: float = Field(description="spread of the matching views, at least half the "
                                      "view spacing", examples=[7.5])
    angular_error_deg: float | None = Field(None, description="against the true pose, if one was given")
    pose_refined: bool = Field(False, description="pose refined by render-and-compare (request `refine`)")
    view_url: str = Field(description="best-matching rendered view (JPEG)")
    model_url: str | None = Field(description="the normalised model as GLB (canonical frame)")
    source_url: str = Field(description="the original CAD file")
    licence: str | None = None
    creator: str | None = None
    source: str | None = Field(None, description="where the model comes from (package and file, or the "
                               "repository URL of a committed pack)")


class SearchResponse(BaseModel):
    categories: list[Category]
    results: list[ModelResult]


class ClassifyResponse(BaseModel):
    categories: list[Category]


class ModelInfo(BaseModel):
    model_id: str
    name: str
    seat_kind: str | None
    category: str | None
    licence: str | None
    creator: str | None
    source: str | None
    views: int
    model_url: str | None
    source_url: str
    icon_url: str | None = None


class ModelList(BaseModel):
    count: int
    models: list[ModelInfo]


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    embedder: dict
    index: dict
    versions: dict


class ErrorResponse(BaseModel):
    detail: str = Field(examples=["not a recognised image (JPEG, PNG, WebP, BMP, GIF or TIFF expected)"])
