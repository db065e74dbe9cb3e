"""FAISS vector index of view embeddings: inner product on L2-normalised rows, ids = view ids."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

# Small query batches on flat indexes use FAISS's own kernel below this many queries; its default
# (20) is fine for batches, but a lower value measured 7x faster for single queries here.
faiss.cvar.distance_compute_blas_threshold = 1


class VectorIndexError(ValueError):
    """The vector index is missing, corrupt, or does not match its metadata."""


class ReadWriteLock:
    """Many concurrent readers (searches) or one writer (add/remove): FAISS is not safe for both."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and self._readers == 0)
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class VectorIndex:
    """A FAISS index built from a factory string (e.g. "Flat", "HNSW32,Flat", "IVF1024,PQ32"),
    wrapped in IndexIDMap2 so that search returns view ids."""

    def __init__(self, dim: int, factory: str = "Flat", index: faiss.Index | None = None) -> None:
        self.dim = dim
        self.factory = factory
        self._lock = ReadWriteLock()
        self._index = index if index is not None else self._new_index()

    def _new_index(self) -> faiss.Index:
        try:
            base = faiss.index_factory(self.dim, self.factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise VectorIndexError(f"bad FAISS factory string {self.factory!r}: {exc}") from None
        return faiss.IndexIDMap2(base)

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def is_trained(self) -> bool:
        return bool(self._index.is_trained)

    def tune(self, ef_search: int, nprobe: int) -> str:
        """Set the search-time knobs: HNSW efSearch (FAISS explores max(efSearch, k) candidates), IVF
        nprobe (lists visited); nothing for Flat. Returns what was set, e.g. "efSearch=64", or ""."""
        base = faiss.downcast_index(self._index.index)
        with self._lock.writing():
            if isinstance(base, faiss.IndexHNSW):
                base.hnsw.efSearch = ef_search
                return f"efSearch={ef_search}"
            try:
                faiss.extract_index_ivf(base).nprobe = nprobe
            except RuntimeError:  # neither HNSW nor IVF: nothing to tune
                return ""
            return f"nprobe={nprobe}"

    def ids(self) -> np.ndarray:
        """The ids held, (ntotal,) int64, sorted."""
        with self._lock.reading():
            return np.sort(faiss.vector_to_array(self._index.id_map))

    def train(self, vectors: np.ndarray) -> None:
        """Train quantisers (IVF/PQ factories); a no-op for Flat/HNSW. vectors (n, dim) float32."""
        with self._lock.writing():
            if not self._index.is_trained:
                self._index.train(self._check(vectors))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """ids (n,) int64, vectors (n, dim) float32 L2-normalised."""
        vectors = self._check(vectors)
        with self._lock.writing():
            self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids (n,) int64. Returns how many were removed."""
        with self._lock.writing():
            return int(self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """queries (q, dim) float32. Returns (similarities (q, k) float32, ids (q, k) int64; -1 = none)."""
        queries = self._check(queries)
        with self._lock.reading():
            k = max(1, min(k, self.ntotal)) if self.ntotal else 1
            return self._index.search(queries, k)

    def _check(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise VectorIndexError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        if not np.all(np.isfinite(vectors)):
            raise VectorIndexError("vectors contain NaN or inf")
        return vectors

    def save(self, path: Path) -> None:
        """Atomic write: temp file in the same folder, fsync, rename over the old file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            with self._lock.reading():
                faiss.write_index(self._index, tmp)
            _fsync_file(tmp)
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path, factory: str) -> VectorIndex:
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise VectorIndexError(f"cannot read FAISS index {path}: {exc}") from None
        return cls(index.d, factory, index)

    @classmethod
    def from_batches(cls, dim: int, factory: str, batches: Iterable[tuple[np.ndarray, np.ndarray]],
                     ) -> VectorIndex:
        """Build from (ids, vectors) batches, e.g. MetadataStore.embeddings(). Trains on all vectors
        first when the factory needs training."""
        index = cls(dim, factory)
        batches = list(batches)
        if batches and not index.is_trained:
            index.train(np.concatenate([v for _, v in batches]))
        for ids, vectors in batches:
            index.add(ids, vectors)
        return index


def _fsync_file(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
