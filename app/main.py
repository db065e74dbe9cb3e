"""The FastAPI application: routers, error handlers, middleware (size limit, request log, CORS), demo page."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Mount
from starlette.types import Scope

from app import metrics
from app.deps import lifespan_for
from app.limits import BodySizeLimit
from app.requestlog import RequestLog, configure_access_log
from app.routes import admin, catalogue, health, search
from app.settings import Settings, get_settings
from index.collection import CollectionError
from index.store import StoreError
from models.embedder import Embedder
from models.photo import PhotoError

STATIC_DIR = Path(__file__).parent / "static"


class DemoMount(Mount):
    """The demo page at /, except under /api: there the router answers unknown paths with a JSON 404
    and a known path with the wrong method with a JSON 405 (a catch-all mount would say 404 to both)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and (scope["path"] == "/api" or scope["path"].startswith("/api/")):
            return Match.NONE, {}
        return super().matches(scope)


def create_app(settings: Settings | None = None, embedder: Embedder | None = None) -> FastAPI:
    """The app; `embedder` may be injected (tests), otherwise it is built from the settings."""
    settings = settings or get_settings()
    app = FastAPI(title="photo2cad", version="0.1.0", lifespan=lifespan_for(settings, embedder),
                  description="Photo of a chair in: seat kind, matching CAD models and camera pose out.")
    app.state.metrics = metrics.Metrics()
    for router in (search.router, admin.router, catalogue.router, health.router, metrics.router):
        app.include_router(router)
    _add_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes, paths=("/api/",))
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["X-Request-ID"])
    app.add_middleware(RequestLog, metrics=app.state.metrics, logger=configure_access_log(settings.log_level))
    app.router.routes.append(DemoMount("/", app=StaticFiles(directory=STATIC_DIR, html=True), name="demo"))
    return app


def _add_error_handlers(app: FastAPI) -> None:
    def handler(status: int):
        async def respond(request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=status)
        return respond

    app.add_exception_handler(PhotoError, handler(400))
    app.add_exception_handler(StoreError, handler(404))
    app.add_exception_handler(CollectionError, handler(409))
