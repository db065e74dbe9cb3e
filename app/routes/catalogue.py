"""The indexed CAD models: list, details, files (normalised GLB, original file, icon) and views."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from app.deps import SearcherDep, ServicesDep
from app.presenters import model_info
from app.schemas import ErrorResponse, ModelInfo, ModelList
from index.store import ModelRecord

router = APIRouter(prefix="/api", tags=["catalogue"])
NOT_FOUND = {404: {"model": ErrorResponse}}
GLB, OCTETS = "model/gltf-binary", "application/octet-stream"
ViewId = Annotated[int, PathParam(ge=0, le=2**63 - 1, description="a view id (int64), from `view_url`")]


def _file_responses(*media_types: str) -> dict:
    """OpenAPI responses of a file route: the file's media types, or a JSON 404."""
    return {200: {"content": {m: {"schema": {"type": "string", "format": "binary"}} for m in media_types}},
            **NOT_FOUND}


def _record(searcher: SearcherDep, model_id: str) -> ModelRecord:
    record = searcher.models.get(model_id)
    if record is None:
        raise HTTPException(404, f"no model with id {model_id!r}")
    return record


def _file(path: Path | None, what: str, media_type: str | None = None) -> FileResponse:
    if path is None or not path.is_file():
        raise HTTPException(404, f"{what} not available")
    return FileResponse(path, media_type=media_type, filename=path.name if media_type == OCTETS else None)


@router.get("/models", response_model=ModelList)
def list_models(services: ServicesDep) -> ModelList:
    counts = services.collection.store.view_counts()
    symmetries = services.searcher.symmetries
    models = [model_info(r, counts.get(r.model_id, 0), symmetries.get(r.model_id))
              for r in services.searcher.models.values()]
    return ModelList(count=len(models), models=models)


@router.get("/models/{model_id:path}/model.glb", responses=_file_responses(GLB), response_class=FileResponse)
def get_model_glb(services: ServicesDep, model_id: str) -> FileResponse:
    """The model normalised to the canonical frame (up +Y, front +Z, unit diagonal), as GLB."""
    glb = _record(services.searcher, model_id).extra.get("glb_path")
    return _file(services.collection.root / glb if glb else None, "GLB model", GLB)


@router.get("/models/{model_id:path}/source", responses=_file_responses(OCTETS), response_class=FileResponse)
def get_model_source(services: ServicesDep, model_id: str) -> FileResponse:
    """The original CAD file as indexed (OBJ, GLB, PLY...), as a download."""
    return _file(Path(_record(services.searcher, model_id).file_path), "model file", OCTETS)


@router.get("/models/{model_id:path}/icon", responses=_file_responses("image/png", "image/jpeg"),
            response_class=FileResponse)
def get_model_icon(services: ServicesDep, model_id: str) -> FileResponse:
    icon = _record(services.searcher, model_id).extra.get("icon_path")
    return _file(Path(icon) if icon else None, "icon")


@router.get("/views/{view_id}.jpg", responses=_file_responses("image/jpeg"), response_class=FileResponse)
def get_view(services: ServicesDep, view_id: ViewId) -> FileResponse:
    """A rendered view of an indexed model (JPEG)."""
    views = services.searcher.views
    row = int((views.ids == view_id).argmax()) if len(views.ids) else 0
    if not len(views.ids) or views.ids[row] != view_id or not views.image_paths[row]:
        raise HTTPException(404, f"no view {view_id}")
    return _file(services.collection.root / views.image_paths[row], "view image", "image/jpeg")


# Declared last: `{model_id:path}` (ids may contain '/') would otherwise swallow the file routes above.
@router.get("/models/{model_id:path}", response_model=ModelInfo, responses=NOT_FOUND)
def get_model(services: ServicesDep, model_id: str) -> ModelInfo:
    record = _record(services.searcher, model_id)
    return model_info(record, len(services.collection.store.view_ids(model_id)),
                      services.searcher.symmetries.get(model_id))
