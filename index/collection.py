"""An index folder on disk: metadata store + FAISS index + manifest, kept consistent.

Layout of `root`:
    metadata.sqlite   models, views, cameras and embeddings (source of truth)
    vectors.faiss     FAISS index derived from the embeddings (rebuilt if it disagrees with the store)
    manifest.json     embedder, render settings, FAISS factory, versions, counts
    views/            rendered views (JPEG) and normalised models (GLB) for display
    kinds.npz         seat-kind classifier fitted on the store (index/kinds.py), a cache keyed by the views
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from index.store import MetadataStore, ModelRecord, ViewTable
from index.vectors import VectorIndex, VectorIndexError
from models.embedder import EmbedderInfo

log = logging.getLogger(__name__)
FORMAT_VERSION = 1


class CollectionError(ValueError):
    """The index folder is missing, incompatible with the embedder, or inconsistent."""


@dataclass(frozen=True)
class ViewConfig:
    """How views are rendered: image side in px, camera sampling (icosphere subdivision level or
    Monte Carlo count), polar range in degrees, seed for Monte Carlo, vertical field of view."""

    size_px: int = 224
    sampling: str = "icosphere"
    count: int = 2
    polar_min_deg: float = 20.0
    polar_max_deg: float = 90.0
    seed: int = 0
    yfov_deg: float = 35.0


@dataclass(frozen=True)
class Snapshot:
    """One consistent state of a collection: its views (ordered by id), models by id, vector index."""

    views: ViewTable
    models: dict[str, ModelRecord]
    vectors: VectorIndex


class Collection:
    """Opened with `create` or `open`; writes go through `put_model` / `remove_model` + `save`."""

    def __init__(self, root: Path, store: MetadataStore, vectors: VectorIndex, manifest: dict) -> None:
        self.root = Path(root)
        self.store = store
        self.vectors = vectors
        self.manifest = manifest
        self._write_lock = threading.Lock()

    # -- opening --------------------------------------------------------------------------------

    @classmethod
    def create(cls, root: Path, embedder: EmbedderInfo, views: ViewConfig, factory: str = "Flat",
               versions: dict | None = None) -> Collection:
        root = Path(root)
        if (root / "manifest.json").exists():
            raise CollectionError(f"an index already exists at {root}")
        root.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format_version": FORMAT_VERSION, "embedder": asdict(embedder), "views": asdict(views),
            "faiss_factory": factory, "versions": versions or {}, "created_at": _now(),
        }
        collection = cls(root, MetadataStore(root / "metadata.sqlite"), VectorIndex(embedder.dim, factory),
                         manifest)
        collection.save()
        return collection

    @classmethod
    def open(cls, root: Path, holding_lock: bool = False) -> Collection:
        """Open and verify: the FAISS index is rebuilt from the store if their view ids disagree, and
        written back only under the index's write lock (holding_lock: the caller holds it), so that a
        reader never overwrites what a writing process is about to save."""
        root = Path(root)
        manifest = _read_manifest(root)
        if manifest.get("counts", {}).get("views") and not (root / "metadata.sqlite").exists():
            # Never answer from an empty store that SQLite would silently create in its place.
            raise CollectionError(f"index at {root} lost its metadata.sqlite: restore it or rebuild the index")
        store = MetadataStore(root / "metadata.sqlite")
        dim, factory = int(manifest["embedder"]["dim"]), manifest["faiss_factory"]
        vectors = _load_or_rebuild(root / "vectors.faiss", store, dim, factory, holding_lock)
        return cls(root, store, vectors, manifest)

    @staticmethod
    def open_manifest_embedder(manifest_path: Path) -> EmbedderInfo:
        """The embedder recorded in an index's manifest, without opening the index."""
        return EmbedderInfo(**_read_manifest(Path(manifest_path).parent)["embedder"])

    @classmethod
    def open_or_create(cls, root: Path, embedder: EmbedderInfo, views: ViewConfig, factory: str,
                       versions: dict | None = None, holding_lock: bool = False) -> Collection:
        if (Path(root) / "manifest.json").exists():
            collection = cls.open(root, holding_lock)
            collection.check_embedder(embedder)
            return collection
        return cls.create(root, embedder, views, factory, versions)

    # -- properties -----------------------------------------------------------------------------

    @property
    def view_config(self) -> ViewConfig:
        return ViewConfig(**self.manifest["views"])

    @property
    def embedder_info(self) -> EmbedderInfo:
        return EmbedderInfo(**self.manifest["embedder"])

    def check_embedder(self, info: EmbedderInfo) -> None:
        """Vectors from another embedder would be meaningless next to the indexed ones."""
        have = self.manifest["embedder"]
        if (have["name"], have["layer"], have["dim"], have["input_size_px"], have["weights"]) != (
                info.name, info.layer, info.dim, info.input_size_px, info.weights):
            raise CollectionError(
                f"index at {self.root} was built with {have['name']}/{have['layer']} ({have['dim']}-d, "
                f"weights: {have['weights']}); the configured embedder is {info.name}/{info.layer} "
                f"({info.dim}-d, weights: {info.weights}): rebuild the index or configure the same embedder")

    def snapshot(self) -> Snapshot:
        """Views, models and vectors that agree, read in one SQLite read transaction: another process
        may commit between this collection's loading of vectors.faiss and now (e.g. `index remove`),
        and then the vectors are rebuilt in memory from the snapshot's embeddings."""
        with self.store.read_snapshot():
            views = self.store.view_table()
            models = {m.model_id: m for m in self.store.list_models()}
            same = np.array_equal(self.vectors.ids(), views.ids)
            vectors = self.vectors if same else _rebuild(self.store, self.vectors.dim, self.vectors.factory)
        return Snapshot(views, models, vectors)

    def views_dir(self, model_id: str) -> Path:
        return self.root / "views" / safe_name(model_id)

    # -- writing --------------------------------------------------------------------------------

    def put_model(self, record: ModelRecord, cameras: np.ndarray, embeddings: np.ndarray,
                  image_paths: list[str | None]) -> None:
        """Insert or replace one model with its views. The store commits first (the truth); the
        FAISS index follows in memory and reaches disk at the next `save`."""
        with self._write_lock:
            old_ids = self.store.view_ids(record.model_id)
            new_ids = self.store.put_model(record, cameras, embeddings, image_paths)
            self._remove_vectors(old_ids)
            self.vectors.add(new_ids, embeddings)

    def remove_model(self, model_id: str) -> int:
        """Delete a model and its views. Returns the number of views removed."""
        with self._write_lock:
            ids = self.store.remove_model(model_id)
            self._remove_vectors(ids)
            return len(ids)

    def _remove_vectors(self, ids: np.ndarray) -> None:
        if not len(ids):
            return
        try:
            self.vectors.remove(ids)
        except RuntimeError:  # e.g. HNSW cannot remove: rebuild from the store instead
            self.vectors = _rebuild(self.store, self.vectors.dim, self.vectors.factory)

    def save(self) -> None:
        """Write the FAISS index and the manifest atomically (temp file + fsync + rename)."""
        self.vectors.save(self.root / "vectors.faiss")
        counts = {"models": len(self.store.view_counts()), "views": self.store.count_views()}
        self.manifest.update(counts=counts, updated_at=_now())
        _write_json_atomic(self.root / "manifest.json", self.manifest)

    def close(self) -> None:
        self.store.close()

    def stats(self) -> dict:
        """Counts (per seat kind too), vector index and embedder, view settings, sizes on disk in bytes."""
        counts = self.store.view_counts()
        return {
            "path": str(self.root), "models": len(counts), "views": self.store.count_views(),
            "vectors": self.vectors.ntotal, "views_per_model": sorted(set(counts.values())),
            "seat_kinds": self.store.seat_kind_counts(), "faiss_factory": self.vectors.factory,
            "dim": self.vectors.dim, "embedder": self.manifest["embedder"], "views_config": self.manifest["views"],
            "created_at": self.manifest.get("created_at"), "updated_at": self.manifest.get("updated_at"),
            "bytes": {"metadata": _size(self.root.glob("metadata.sqlite*")),
                      "vectors": _size([self.root / "vectors.faiss"]),
                      "views": _size((self.root / "views").rglob("*")),
                      "sources": _size((self.root / "sources").rglob("*"))},
        }


def _load_or_rebuild(path: Path, store: MetadataStore, dim: int, factory: str, holding_lock: bool,
                     ) -> VectorIndex:
    if path.exists():
        try:
            vectors = VectorIndex.load(path, factory)
            if vectors.dim == dim and np.array_equal(vectors.ids(), store.view_table().ids):
                return vectors
        except VectorIndexError as exc:
            log.warning("%s", exc)
    log.warning("FAISS index %s disagrees with the metadata store: rebuilding it from the store", path)
    vectors = _rebuild(store, dim, factory)
    if holding_lock:
        vectors.save(path)
    else:
        _save_unless_locked(vectors, path)
    return vectors


def _save_unless_locked(vectors: VectorIndex, path: Path) -> None:
    """Save under the write lock; skip it while a writer holds the lock (it saves its own) or where the
    index cannot be written (a read-only mount): the rebuilt index still serves from memory."""
    from index.lock import IndexLockedError, index_write_lock  # index.lock imports this module

    try:
        with index_write_lock(path.parent):
            vectors.save(path)
    except (IndexLockedError, OSError) as exc:
        log.info("FAISS index %s repaired in memory only: %s", path, exc)


def _rebuild(store: MetadataStore, dim: int, factory: str) -> VectorIndex:
    return VectorIndex.from_batches(dim, factory, store.embeddings())


def _read_manifest(root: Path) -> dict:
    path = root / "manifest.json"
    if not path.exists():
        raise CollectionError(f"no index at {root} (manifest.json missing): run `photo2cad index build`")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CollectionError(f"corrupt manifest {path}: {exc}") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CollectionError(f"index format {manifest.get('format_version')} at {root} is not supported")
    return manifest


def _write_json_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _size(paths) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file())


def safe_name(model_id: str) -> str:
    """A file-system-safe, collision-free folder name for a model id (e.g. 'eTeks#chair')."""
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model_id)[:60]
    return f"{stem}-{hashlib.sha1(model_id.encode()).hexdigest()[:8]}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
