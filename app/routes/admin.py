"""Changing the index while the service runs: upload or delete a CAD model, reload; behind an API key.

Writes take the index's write lock (index.lock) like `photo2cad index add/remove`: while a CLI run holds
it they answer 409 (CollectionError, see app.main) at once instead of waiting."""

from __future__ import annotations

import secrets
import shutil
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Request, UploadFile, status
from fastapi.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from app import bootstrap
from app.deps import ServicesDep, reload_services
from app.presenters import model_info
from app.schemas import ErrorResponse, ModelInfo

ERRORS = {s: {"model": ErrorResponse} for s in (400, 401, 403, 404, 409)}


def check_api_key(expected: str | None, given: bytes | None) -> None:
    """Raise 403 while no key is configured, 401 unless `given` (the raw header bytes) is the key.
    Bytes, not str: compare_digest refuses non-ASCII strings, and a client may send any bytes."""
    if not expected:
        raise HTTPException(403, "index changes over HTTP are disabled: set PHOTO2CAD_API_KEY to enable them")
    if given is None or not secrets.compare_digest(given, expected.encode()):
        raise HTTPException(401, "missing or wrong X-API-Key header")


def require_api_key(services: ServicesDep, x_api_key: Annotated[str | None, Header()] = None) -> None:
    # Starlette decodes header bytes as latin-1: encoding back gives the bytes the client sent.
    check_api_key(services.settings.api_key, None if x_api_key is None else x_api_key.encode("latin-1"))


class ApiKeyGate:
    """ASGI middleware checking the key of requests to an admin route (path and method) before anything
    reads their body (FastAPI parses an upload before it runs the route's dependencies); other methods on
    those paths get the router's 405."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(route.matches(scope)[0] is Match.FULL for route in router.routes):
            try:
                check_api_key(self.api_key, dict(scope["headers"]).get(b"x-api-key"))
            except HTTPException as exc:
                return await JSONResponse({"detail": exc.detail}, exc.status_code)(scope, receive, send)
        await self.app(scope, receive, send)


# Under /api/admin rather than beside GET /api/models/{id}: ids may contain '/', so sharing those paths
# would make e.g. DELETE /api/models/x/model.glb ambiguous.
router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(require_api_key)])


def _save_upload(upload: UploadFile, folder: Path) -> Path:
    name = Path(upload.filename or "").name
    if not name or name.startswith("."):
        raise HTTPException(400, "the uploaded file needs a name with its extension, e.g. chair.glb")
    folder.mkdir(parents=True)
    path = folder / name
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out)
    return path


def _upload_dir(settings, file_path: str) -> Path | None:
    """The uploads/<uuid> folder holding a model's source file, if it was uploaded through the API.
    Both sides resolved: stored paths are absolute and real, the index path may be relative or a link."""
    index_dir = settings.resolved_index_dir.resolve()
    path = (index_dir / file_path).resolve()  # an absolute file_path replaces index_dir
    return path.parent if path.parent.parent == index_dir / "uploads" else None


def _drop_upload(settings, file_path: str) -> None:
    folder = _upload_dir(settings, file_path)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@router.post("/models", status_code=status.HTTP_201_CREATED, response_model=ModelInfo, responses=ERRORS)
def add_model(request: Request, services: ServicesDep,
              file: Annotated[UploadFile, File(description="CAD file: GLB, OBJ (no MTL/textures), STL, PLY, OFF")],
              model_id: Annotated[str | None, Form()] = None, name: Annotated[str | None, Form()] = None,
              seat_kind: Annotated[str | None, Form()] = None, licence: Annotated[str | None, Form()] = None,
              creator: Annotated[str | None, Form()] = None) -> ModelInfo:
    """Render, embed and index an uploaded CAD file, then serve it without a restart."""
    settings = services.settings
    path = _save_upload(file, settings.resolved_index_dir / "uploads" / uuid.uuid4().hex)
    target = model_id or path.stem
    with request.app.state.write_lock:
        previous = services.searcher.models.get(target)
        try:
            report = bootstrap.add_files(settings, [path], model_id=model_id or path.stem, name=name,
                                         seat_kind=seat_kind, licence=licence, creator=creator,
                                         embedder=services.embedder)
        except Exception:  # e.g. the index is locked by a CLI run (409): keep no orphaned upload
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
        if report.failed:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise HTTPException(400, f"{report.failed[0][0]}: {report.failed[0][1]}")
        fresh = reload_services(request.app)
        record = fresh.searcher.models[target]
        if _upload_dir(settings, record.file_path) != path.parent.resolve():  # unchanged: this copy is unused
            shutil.rmtree(path.parent, ignore_errors=True)
        elif previous is not None:  # replaced: the previous upload is unused
            _drop_upload(settings, previous.file_path)
    return model_info(record, len(fresh.collection.store.view_ids(record.model_id)))


@router.delete("/models/{model_id:path}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
def delete_model(request: Request, services: ServicesDep, model_id: str) -> None:
    """Remove a model (views, vectors, files) from the index."""
    if model_id not in services.searcher.models:
        raise HTTPException(404, f"no model with id {model_id!r}")
    record = services.searcher.models[model_id]
    with request.app.state.write_lock:
        bootstrap.remove(services.settings, [model_id])
        reload_services(request.app)
        _drop_upload(services.settings, record.file_path)


@router.post("/reload", responses=ERRORS)
def reload(request: Request) -> dict:
    """Pick up changes made on disk by `photo2cad index add/remove` while the service runs."""
    with request.app.state.write_lock:
        fresh = reload_services(request.app)
    return {"models": len(fresh.searcher.models), "views": fresh.searcher.vectors.ntotal}
