"""POST /api/search and /api/classify: an uploaded photo -> seat kinds, ranked models with pose."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.exceptions import RequestValidationError

from app.deps import RefinerDep, SearcherDep, SettingsDep
from app.metrics import MetricsDep, timed_embed, timed_search, timed_search_vector
from app.presenters import search_response
from app.schemas import Category, ClassifyResponse, ErrorResponse, SearchResponse
from models.photo import Photo, load_photo, square_image
from render.cameras import angles_to_camera

router = APIRouter(prefix="/api", tags=["search"])
ERRORS = {400: {"model": ErrorResponse, "description": "not an image we can read (see `detail`)"},
          413: {"model": ErrorResponse, "description": "upload larger than the limit"}}
PhotoUpload = Annotated[UploadFile, File(description="photo of a chair: JPEG, PNG, WebP, GIF (first frame), BMP "
                                   "or TIFF; alpha is put on white, EXIF orientation is applied")]


def _read_photo(upload: UploadFile, settings: SettingsDep) -> Photo:
    data = upload.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise HTTPException(413, f"upload larger than {settings.max_upload_bytes} bytes")
    return load_photo(data, settings.photo_max_side_px, settings.max_image_pixels, settings.max_image_aspect)


def _query_image(upload: UploadFile, settings: SettingsDep, searcher: SearcherDep) -> np.ndarray:
    """The whole photo as the embedder's square input, (S, S, 3) uint8."""
    return square_image(_read_photo(upload, settings).image, searcher.embedder.info.input_size_px)


def _true_camera(polar: float | None, azimuth: float | None) -> np.ndarray | None:
    if (polar is None) != (azimuth is None):
        missing = "azimuth" if azimuth is None else "polar"
        raise RequestValidationError([{"type": "missing", "loc": ("body", missing), "input": None,
                                       "msg": "give both polar and azimuth, or neither"}])
    return None if polar is None else angles_to_camera(polar, azimuth)


@router.post("/search", response_model=SearchResponse, responses=ERRORS)
def search(
    searcher: SearcherDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    refiner: RefinerDep,
    image: PhotoUpload,
    top_k: Annotated[int | None, Form(ge=1, description="number of models to return (capped by the "
                                      "server's max_top_k)", examples=[5])] = None,
    polar: Annotated[float | None, Form(ge=0, le=180, allow_inf_nan=False, examples=[60.0],
                                        description="true polar angle, degrees (0 = from above)")] = None,
    azimuth: Annotated[float | None, Form(allow_inf_nan=False, examples=[135.0],
                                          description="true azimuth, degrees (0 = from the front)")] = None,
    refine: Annotated[bool, Form(description="refine the best model's pose beyond the view grid by "
                                 "render-and-compare (about 0.7 s more; see EVALUATION.md)")] = False,
) -> SearchResponse:
    """Seat-kind probabilities and the ranked CAD models, each with its estimated camera pose.
    Give the true `polar` and `azimuth` (both) to get each model's `angular_error_deg`; `refine` refines
    the best model's pose (off by default: it pays on clean renders, not on photo-like images)."""
    true_camera = _true_camera(polar, azimuth)
    k = min(top_k or settings.default_top_k, settings.max_top_k)
    vector = timed_embed(searcher, metrics, _query_image(image, settings, searcher))
    answer = timed_search_vector(searcher, metrics, vector, k, true_camera)
    if refine and answer.matches:
        best = refiner.refine(searcher, answer.matches[0], vector, true_camera)
        answer = replace(answer, matches=[best, *answer.matches[1:]])
    return search_response(answer)


@router.post("/classify", response_model=ClassifyResponse, responses=ERRORS)
def classify(searcher: SearcherDep, settings: SettingsDep, metrics: MetricsDep,
             image: PhotoUpload) -> ClassifyResponse:
    """Seat-kind probabilities only."""
    answer = timed_search(searcher, metrics, _query_image(image, settings, searcher), top_k=1)
    return ClassifyResponse(categories=[Category(label=k, probability=p) for k, p in answer.categories])
