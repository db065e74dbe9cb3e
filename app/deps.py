"""Heavy objects (embedder, index, searcher, seat detector), built once in the lifespan and injected into routes."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from app.batching import EmbedBatcher, NeighbourBatcher
from app.bootstrap import load_detector, load_embedder
from app.metrics import Metrics
from app.settings import Settings
from index.collection import Collection
from index.refine import MatchRefiner
from index.search import Searcher
from models.detector import SeatDetector
from models.embedder import Embedder

log = logging.getLogger(__name__)


@dataclass
class Batchers:
    """Micro-batchers shared by concurrent queries; they outlive index reloads."""

    embed: EmbedBatcher
    search: NeighbourBatcher

    def close(self) -> None:
        self.embed.close()
        self.search.close()


@dataclass
class Services:
    settings: Settings
    embedder: Embedder  # the embedder itself: indexing embeds its views in batches already
    collection: Collection
    searcher: Searcher
    batchers: Batchers | None = None  # queries go through them when batching is on


def load_services(settings: Settings, embedder: Embedder | None = None,
                  batchers: Batchers | None = None) -> Services:
    """Open the index and build the searcher; the index must exist (`photo2cad index build`).
    The searcher embeds and searches through `batchers` when given."""
    embedder = embedder or load_embedder(settings)
    collection = Collection.open(settings.resolved_index_dir)
    log.info("index %s: %s", settings.resolved_index_dir, collection.manifest.get("counts"))
    searcher = (Searcher(collection, batchers.embed, neighbours=batchers.search) if batchers
                else Searcher(collection, embedder))
    return Services(settings, embedder, collection, searcher, batchers)


def start_batchers(settings: Settings, embedder: Embedder, metrics: Metrics) -> Batchers | None:
    """Micro-batchers for query embeds and searches, or None when batching is off."""
    if not settings.batching:
        return None
    size, wait_ms = settings.batch_max_size, settings.batch_max_wait_ms
    return Batchers(EmbedBatcher(embedder, size, wait_ms, observe_batch=metrics.embed_batch_size.observe),
                    NeighbourBatcher(size, wait_ms, observe_batch=metrics.search_batch_size.observe))


def reload_services(app: FastAPI) -> Services:
    """Re-open the index from disk and swap it in. Requests already running keep the old searcher
    (FAISS is never written while searched: the new one is a separate object); new requests get the new."""
    old = app.state.services
    app.state.services = load_services(old.settings, old.embedder, old.batchers)
    return app.state.services


def lifespan_for(settings: Settings, embedder: Embedder | None = None):
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as on_exit:
            loaded = embedder or load_embedder(settings)
            batchers = start_batchers(settings, loaded, app.state.metrics)
            if batchers is not None:
                on_exit.callback(batchers.close)
            app.state.services = load_services(settings, loaded, batchers)
            on_exit.callback(lambda: app.state.services.collection.close())  # the one in use by then
            app.state.write_lock = threading.Lock()  # one index change at a time
            app.state.detector = load_detector(settings)  # once: LiteRT interpreter, one thread
            app.state.refiner = MatchRefiner()  # its render worker starts on the first `refine` request
            on_exit.callback(app.state.refiner.close)
            yield

    return lifespan


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_searcher(request: Request) -> Searcher:
    return request.app.state.services.searcher


def get_refiner(request: Request) -> MatchRefiner:
    return request.app.state.refiner


def get_detector(request: Request) -> SeatDetector | None:
    return request.app.state.detector


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.services.settings


ServicesDep = Annotated[Services, Depends(get_services)]
SearcherDep = Annotated[Searcher, Depends(get_searcher)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RefinerDep = Annotated[MatchRefiner, Depends(get_refiner)]
DetectorDep = Annotated[SeatDetector | None, Depends(get_detector)]
