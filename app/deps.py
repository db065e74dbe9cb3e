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
from index.calibration import CalibrationError, PoseCalibration
from index.collection import Collection
from index.refine import MatchRefiner
from index.search import Searcher
from index.symmetry import fill_symmetries
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
    calibration = load_calibration(settings, embedder.info.name, collection.manifest)
    searcher = (Searcher(collection, batchers.embed, neighbours=batchers.search, calibration=calibration)
                if batchers else Searcher(collection, embedder, calibration=calibration))
    start_symmetry_fill(searcher)
    return Services(settings, embedder, collection, searcher, batchers)


def load_calibration(settings: Settings, embedder_name: str, index_manifest: dict) -> PoseCalibration | None:
    """The pose error-bar calibration for this embedder and index, or None (uncalibrated spread, logged)."""
    path = settings.pose_calibration_path
    if not path.is_file() and settings.pose_calibration is None:
        log.warning("no pose calibration for %s at %s: expected errors are uncalibrated", embedder_name, path)
        return None
    try:
        calibration = PoseCalibration.load(path, embedder_name)
        calibration.check_index(index_manifest)
        return calibration
    except CalibrationError as exc:
        log.warning("%s: expected errors are uncalibrated", exc)
        return None


def start_symmetry_fill(searcher: Searcher) -> threading.Thread | None:
    """Detect, in the background, the symmetries an older index lacks (results say "unknown" meanwhile)."""
    if all(s is not None for s in searcher.symmetries.values()):
        return None
    thread = threading.Thread(target=fill_symmetries, args=(searcher.collection.store, searcher.symmetries),
                              name="photo2cad-symmetry", daemon=True)
    thread.start()
    return thread


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
            # its render workers start on the first `refine` request
            app.state.refiner = MatchRefiner(workers=settings.refine_workers, max_waiting=settings.refine_queue)
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
