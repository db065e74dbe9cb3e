"""The indexed CAD models: list, details, files (normalised GLB, original file, icon) and views."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from app.deps import SearcherDep, ServicesDep
from app.presenters import model_info
from app.schemas import ErrorResponse, ModelInfo, ModelList
from index.store import ModelRecord

router = APIRouter(prefix="/api", tags=["catalogue"])
NOT_FOUND = {404: {"model": ErrorResponse}}


def _record(searcher: SearcherDep, model_id: str) -> ModelRecord:
    record = searcher.models.get(model_id)
    if record is None:
        raise HTTPException(404, f"no model with id {model_id!r}")
    return record


def _file(path: Path | None, what: str) -> FileResponse:
    if path is None or not path.is_file():
        raise HTTPException(404, f"{what} not available")
    return FileResponse(path)


@router.get("/models", response_model=ModelList)
def list_models(services: ServicesDep) -> ModelList:
    counts = services.collection.store.view_counts()
    models = [model_info(r, counts.get(r.model_id, 0)) for r in services.searcher.models.values()]
    return ModelList(count=len(models), models=models)


@router.get("/models/{model_id}", response_model=ModelInfo, responses=NOT_FOUND)
def get_model(services: ServicesDep, model_id: str) -> ModelInfo:
    record = _record(services.searcher, model_id)
    return model_info(record, len(services.collection.store.view_ids(model_id)))


@router.get("/models/{model_id}/model.glb", responses=NOT_FOUND, response_class=FileResponse)
def get_model_glb(services: ServicesDep, model_id: str) -> FileResponse:
    """The model normalised to the canonical frame (up +Y, front +Z, unit diagonal), as GLB."""
    glb = _record(services.searcher, model_id).extra.get("glb_path")
    return _file(services.collection.root / glb if glb else None, "GLB model")


@router.get("/models/{model_id}/source", responses=NOT_FOUND, response_class=FileResponse)
def get_model_source(services: ServicesDep, model_id: str) -> FileResponse:
    """The original CAD file as indexed."""
    return _file(Path(_record(services.searcher, model_id).file_path), "model file")


@router.get("/models/{model_id}/icon", responses=NOT_FOUND, response_class=FileResponse)
def get_model_icon(services: ServicesDep, model_id: str) -> FileResponse:
    icon = _record(services.searcher, model_id).extra.get("icon_path")
    return _file(Path(icon) if icon else None, "icon")


@router.get("/views/{view_id}.jpg", responses=NOT_FOUND, response_class=FileResponse)
def get_view(services: ServicesDep, view_id: int) -> FileResponse:
    """A rendered view of an indexed model (JPEG)."""
    views = services.searcher.views
    row = int((views.ids == view_id).argmax()) if len(views.ids) else 0
    if not len(views.ids) or views.ids[row] != view_id or not views.image_paths[row]:
        raise HTTPException(404, f"no view {view_id}")
    return _file(services.collection.root / views.image_paths[row], "view image")
