"""POST /api/search and /api/classify: an uploaded photo -> seat kinds, ranked models with pose."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, UploadFile

from app.deps import SearcherDep, SettingsDep
from app.presenters import search_response
from app.schemas import Category, ClassifyResponse, ErrorResponse, SearchResponse
from models.images import decode_image, square_pad
from render.cameras import angles_to_camera

router = APIRouter(prefix="/api", tags=["search"])
ERRORS = {400: {"model": ErrorResponse}, 413: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


def _read_image(upload: UploadFile, settings: SettingsDep):
    data = upload.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise HTTPException(413, f"upload larger than {settings.max_upload_bytes} bytes")
    return square_pad(decode_image(data, settings.max_image_pixels))


@router.post("/search", response_model=SearchResponse, responses=ERRORS)
def search(
    searcher: SearcherDep,
    settings: SettingsDep,
    image: Annotated[UploadFile, File(description="photo of a chair (JPEG, PNG, WebP...)")],
    top_k: Annotated[int | None, Form(ge=1, description="number of models to return")] = None,
    polar: Annotated[float | None, Form(ge=0, le=180, description="true polar angle, degrees")] = None,
    azimuth: Annotated[float | None, Form(description="true azimuth, degrees")] = None,
) -> SearchResponse:
    """Seat-kind probabilities and the ranked CAD models, each with its estimated camera pose.
    Give the true `polar` and `azimuth` (both) to get each model's `angular_error_deg`."""
    if (polar is None) != (azimuth is None):
        raise HTTPException(422, "give both polar and azimuth, or neither")
    k = min(top_k or settings.default_top_k, settings.max_top_k)
    true_camera = None if polar is None else angles_to_camera(polar, azimuth)
    answer = searcher.search(_read_image(image, settings), k, true_camera)
    return search_response(answer)


@router.post("/classify", response_model=ClassifyResponse, responses=ERRORS)
def classify(searcher: SearcherDep, settings: SettingsDep,
             image: Annotated[UploadFile, File(description="photo of a chair")]) -> ClassifyResponse:
    """Seat-kind probabilities only."""
    answer = searcher.search(_read_image(image, settings), top_k=1)
    return ClassifyResponse(categories=[Category(label=k, probability=p) for k, p in answer.categories])
