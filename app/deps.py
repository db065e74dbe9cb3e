"""Heavy objects (embedder, index, searcher, seat detector), built once in the lifespan and injected into routes."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
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


def search_options(settings: Settings) -> dict[str, bool]:
    """The Searcher options the settings choose (index.search.Searcher keywords): the service and
    `photo2cad evaluate` search alike."""
    return {"view_prior": settings.view_head, "mirror_views": settings.view_head_mirror,
            "kind_cues": settings.kind_cues}


def load_services(settings: Settings, embedder: Embedder | None = None,
                  batchers: Batchers | None = None) -> Services:
    """Open the index and build the searcher; the index must exist (`photo2cad index build`).
    The searcher embeds and searches through `batchers` when given."""
    embedder = embedder or load_embedder(settings)
    collection = Collection.open(settings.resolved_index_dir)
    log.info("index %s: %s", settings.resolved_index_dir, collection.manifest.get("counts"))
    calibration = load_calibration(settings, embedder.info.name, collection.manifest)
    head = search_options(settings)
    searcher = (Searcher(collection, batchers.embed, neighbours=batchers.search, calibration=calibration,
                         kind_head_of=embedder, **head)
                if batchers else Searcher(collection, embedder, calibration=calibration, **head))
    start_symmetry_fill(searcher)
    searcher.vectors.tune(settings.faiss_ef_search, settings.faiss_nprobe)
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


class IndexWatcher:
    """Reloads the app's services when the index's manifest.json changes on disk: every writer (CLI,
    another replica's upload) saves it last, so replicas sharing one index follow its changes."""

    def __init__(self, app: FastAPI, manifest: Path, interval_s: float) -> None:
        self.app, self.manifest, self.interval_s = app, manifest, interval_s
        self.seen = self.stamp()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="index-watcher", daemon=True)

    def stamp(self) -> tuple[int, int, int] | None:
        """(inode, size, mtime in ns) of the manifest; a writer replaces it atomically (new inode)."""
        try:
            stat = self.manifest.stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_size, stat.st_mtime_ns

    def start(self) -> IndexWatcher:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            stamp = self.stamp()
            if stamp == self.seen:
                continue
            try:
                with self.app.state.write_lock:
                    reload_services(self.app)
                self.seen = stamp
                log.info("index changed on disk: reloaded, %s", self.app.state.services.collection.manifest["counts"])
            except Exception:  # keep serving the loaded index; try again at the next change
                log.exception("index changed on disk but could not be reloaded")
                self.seen = stamp


def lifespan_for(settings: Settings, embedder: Embedder | None = None):
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as on_exit:
            loaded = embedder or load_embedder(settings)
            batchers = start_batchers(settings, loaded, app.state.metrics)
            if batchers is not None:
                on_exit.callback(batchers.close)
            watcher = IndexWatcher(app, settings.resolved_index_dir / "manifest.json", settings.reload_interval_s)
            app.state.services = load_services(settings, loaded, batchers)
            on_exit.callback(lambda: app.state.services.collection.close())  # the one in use by then
            app.state.write_lock = threading.Lock()  # one index change at a time
            app.state.detector = load_detector(settings)  # once: LiteRT interpreter, one thread
            if settings.reload_interval_s > 0:
                on_exit.callback(watcher.start().close)
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
