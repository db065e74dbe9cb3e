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
    probability: float = Field(1.0, ge=0.0, le=1.0, description="share of the matching views' weight "
                               "in this pose's mode", examples=[0.7])
    alternatives: list[PoseAlternative] = Field(default_factory=list, description="other modes of the pose "
                                                "distribution above the threshold, most probable first")


class PoseAlternative(BaseModel):
    polar_deg: float = Field(examples=[70.0])
    azimuth_deg: float = Field(examples=[180.0])
    camera: list[float] = Field(examples=[[0.0, 0.34, -0.94]])
    probability: float = Field(ge=0.0, le=1.0, description="share of the matching views' weight",
                               examples=[0.3])
    side: str = Field(description="the side of the model this camera sees: front, right, back or left",
                      examples=["back"])


class Symmetry(BaseModel):
    label: str = Field(description="rotational symmetry about the up axis: none, C2, C3, C4, C6, "
                       "continuous, or unknown (not detected yet)", examples=["none"])
    rotation_order: int | None = Field(description="n of C_n; 0 = continuous; 1 = none; null = unknown",
                                       examples=[1])
    mirror_left_right: bool | None = Field(examples=[True])
    mirror_front_back: bool | None = Field(examples=[False])
    azimuth_ambiguous: bool | None = Field(description="other azimuths give the same picture, so the "
                                           "azimuth is only known up to the symmetry", examples=[False])


class ModelResult(BaseModel):
    model_id: str = Field(examples=["eTeks#chair"])
    name: str = Field(examples=["Chair"])
    seat_kind: str | None = Field(examples=["chair"])
    score: float = Field(ge=0.0, le=1.0, description="cosine similarity of the best view, clipped",
                         examples=[0.93])
    pose: Pose
    expected_error_deg: float = Field(description="68 % of answers lie within this angular error when "
                                      "calibrated (see `expected_error_calibrated`); otherwise the spread of "
                                      "the matching views, at least half the view spacing", examples=[7.5])
    error_90_deg: float | None = Field(None, description="90 % of answers lie within this (calibrated only)")
    expected_error_calibrated: bool = Field(False, description="the error bars come from the calibration "
                                            "artefact fitted for this embedder")
    symmetry: Symmetry = Field(description="the model's symmetry about the up axis, from its geometry")
    angular_error_deg: float | None = Field(None, description="against the true pose, if one was given")
    symmetric_angular_error_deg: float | None = Field(None, description="against the true pose, the "
                                                      "minimum over cameras equivalent by the symmetry")
    pose_refined: bool = Field(False, description="the pose moved by render-and-compare (request `refine`)")
    refine_status: str | None = Field(None, description="what refinement did: moved, unchanged, render "
                                      "failed or busy (only with `refine`)")
    view_url: str = Field(description="best-matching rendered view (JPEG)")
    model_url: str | None = Field(description="the normalised model as GLB (canonical frame)")
    source_url: str = Field(description="the original CAD file")
    licence: str | None = None
    creator: str | None = None
    source: str | None = Field(None, description="where the model comes from (package and file, or the "
                               "repository URL of a committed pack)")


class SeatKinds(BaseModel):
    box: list[float] = Field(min_length=4, max_length=4, description="[x0, y0, x1, y1] pixels of the "
                             "uploaded image after EXIF rotation", examples=[[120.0, 80.0, 410.0, 530.0]])
    label: str = Field(description="the detector's class: chair, couch or bench", examples=["chair"])
    score: float = Field(ge=0.0, le=1.0, description="the detector's confidence", examples=[0.82])
    categories: list[Category] = Field(description="seat-kind probabilities of this seat's crop, with the "
                                       "detector's class and what ImageNet's classifier sees in the crop "
                                       "(PHOTO2CAD_KIND_CUES) as evidence")


class SeatObject(SeatKinds):
    results: list[ModelResult] = Field(description="ranked models for this seat's crop; each pose is "
                                       "the camera seen from the seat's centre (the ray through the box)")
    axis_pose: Pose | None = Field(None, description="the best model's camera turned from the ray through "
                                   "the box onto the photo's optical axis: the camera's orientation "
                                   "relative to the seat (EXIF 35 mm focal length, else 28 mm)")


class SearchResponse(BaseModel):
    categories: list[Category] = Field(description="the main seat's (the whole image's if none found)")
    results: list[ModelResult] = Field(description="the main seat's (the whole image's if none found)")
    detected: bool = Field(False, description="a seat was found; false: the answer is the whole image's")
    objects: list[SeatObject] = Field(default_factory=list, description="each seat found, main seat first "
                                      "(largest detector score x box area)")


class ClassifyResponse(BaseModel):
    categories: list[Category]
    detected: bool = False
    objects: list[SeatKinds] = Field(default_factory=list, description="each seat found, main seat first")


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
    symmetry: Symmetry | None = None


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
