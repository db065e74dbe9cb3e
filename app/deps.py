"""Heavy objects (embedder, index, searcher), built once in the lifespan and injected into routes."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from app.bootstrap import load_embedder
from app.settings import Settings
from index.collection import Collection
from index.search import Searcher
from models.embedder import Embedder

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    embedder: Embedder
    collection: Collection
    searcher: Searcher


def load_services(settings: Settings, embedder: Embedder | None = None) -> Services:
    """Open the index and build the searcher; the index must exist (`photo2cad index build`)."""
    embedder = embedder or load_embedder(settings)
    collection = Collection.open(settings.resolved_index_dir)
    log.info("index %s: %s", settings.resolved_index_dir, collection.manifest.get("counts"))
    return Services(settings, embedder, collection, Searcher(collection, embedder))


def reload_services(app: FastAPI) -> Services:
    """Re-open the index from disk and swap it in. Requests already running keep the old searcher
    (FAISS is never written while searched: the new one is a separate object); new requests get the new."""
    old = app.state.services
    app.state.services = load_services(old.settings, old.embedder)
    return app.state.services


def lifespan_for(settings: Settings, embedder: Embedder | None = None):
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = load_services(settings, embedder)
        app.state.write_lock = threading.Lock()  # one index change at a time
        try:
            yield
        finally:
            app.state.services.collection.close()

    return lifespan


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_searcher(request: Request) -> Searcher:
    return request.app.state.services.searcher


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.services.settings


ServicesDep = Annotated[Services, Depends(get_services)]
SearcherDep = Annotated[Searcher, Depends(get_searcher)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
