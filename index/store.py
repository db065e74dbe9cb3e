"""SQLite metadata store: CAD models, their rendered views, cameras and embeddings.

The store is the source of truth; the FAISS index is derived from the embeddings kept here and can be
rebuilt from them at any time. Every change is one SQLite transaction, so an interrupted run leaves the
store as it was before the model being written.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from render.cameras import camera_to_angles

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    model_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    seat_kind TEXT,
    category TEXT,
    licence TEXT,
    creator TEXT,
    source TEXT,
    file_path TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE IF NOT EXISTS views (
    view_id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL REFERENCES models(model_id) ON DELETE CASCADE,
    polar_deg REAL NOT NULL,
    azimuth_deg REAL NOT NULL,
    cx REAL NOT NULL, cy REAL NOT NULL, cz REAL NOT NULL,
    image_path TEXT,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS views_by_model ON views(model_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StoreError(ValueError):
    """The metadata store is missing, inconsistent, or asked for something it does not hold."""


@dataclass
class ModelRecord:
    """One CAD model of the catalogue. `file_path` is relative to the store's base dir when inside it."""

    model_id: str
    name: str
    file_path: str
    file_hash: str
    seat_kind: str | None = None
    category: str | None = None
    licence: str | None = None
    creator: str | None = None
    source: str | None = None
    extra: dict = field(default_factory=dict)


LABEL_FIELDS = ("seat_kind", "category", "licence", "creator")  # what `index add` can relabel


@dataclass
class ViewTable:
    """All views as arrays, for search. ids (n,) int64; model_ids (n,) object; cameras (n, 3) float64
    unit vectors; polar_deg, azimuth_deg (n,) float64; image_paths (n,) object (may hold None)."""

    ids: np.ndarray
    model_ids: np.ndarray
    cameras: np.ndarray
    polar_deg: np.ndarray
    azimuth_deg: np.ndarray
    image_paths: np.ndarray


class MetadataStore:
    """Thread-safe wrapper around one SQLite file (WAL mode, one connection guarded by a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """Reads inside the block see one committed state (a WAL read transaction), whatever other
        processes commit meanwhile; other threads' use of this store waits until the block ends."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield
            finally:
                self._db.execute("COMMIT")

    # -- models ---------------------------------------------------------------------------------

    def put_model(self, record: ModelRecord, cameras: np.ndarray, embeddings: np.ndarray,
                  image_paths: list[str | None]) -> np.ndarray:
        """Insert or replace a model and all its views in one transaction.

        cameras (n, 3) unit vectors; embeddings (n, d) float32. Returns the new view ids (n,) int64.
        """
        cameras = np.asarray(cameras, dtype=np.float64)
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if len(cameras) != len(embeddings) or len(cameras) != len(image_paths):
            raise StoreError("cameras, embeddings and image paths differ in length")
        with self.transaction() as db:
            db.execute("DELETE FROM models WHERE model_id = ?", (record.model_id,))
            row = asdict(record)
            row["extra"] = json.dumps(record.extra)
            db.execute(
                f"INSERT INTO models ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
            return np.array([self._insert_view(db, record.model_id, c, e, p)
                             for c, e, p in zip(cameras, embeddings, image_paths)], dtype=np.int64)

    def update_labels(self, model_id: str, labels: dict[str, str]) -> None:
        """Change a model's labels (LABEL_FIELDS: seat kind, category, licence, creator) in place; its
        views and vectors stay. Unknown fields raise StoreError."""
        unknown = set(labels) - set(LABEL_FIELDS)
        if unknown:
            raise StoreError(f"not a label field: {sorted(unknown)}")
        if not labels:
            return
        with self.transaction() as db:
            db.execute(f"UPDATE models SET {', '.join(f'{k} = ?' for k in labels)} WHERE model_id = ?",
                       (*labels.values(), model_id))

    def update_extra(self, model_id: str, values: dict) -> None:
        """Merge `values` into a model's extra metadata (e.g. a symmetry detected after indexing)."""
        with self.transaction() as db:
            row = db.execute("SELECT extra FROM models WHERE model_id = ?", (model_id,)).fetchone()
            if row is None:
                raise StoreError(f"no model with id {model_id!r}")
            extra = {**json.loads(row[0] or "{}"), **values}
            db.execute("UPDATE models SET extra = ? WHERE model_id = ?", (json.dumps(extra), model_id))

    @staticmethod
    def _insert_view(db: sqlite3.Connection, model_id: str, camera: np.ndarray, embedding: np.ndarray,
                     image_path: str | None) -> int:
        polar, azimuth = camera_to_angles(camera)
        cur = db.execute(
            "INSERT INTO views (model_id, polar_deg, azimuth_deg, cx, cy, cz, image_path, embedding) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (model_id, float(polar), float(azimuth), *map(float, camera), image_path, embedding.tobytes()),
        )
        return int(cur.lastrowid)

    def remove_model(self, model_id: str) -> np.ndarray:
        """Delete a model and its views. Returns the removed view ids (n,) int64."""
        with self.transaction() as db:
            ids = [r[0] for r in db.execute("SELECT view_id FROM views WHERE model_id = ?", (model_id,))]
            deleted = db.execute("DELETE FROM models WHERE model_id = ?", (model_id,)).rowcount
        if not deleted:
            raise StoreError(f"no model with id {model_id!r}")
        return np.array(ids, dtype=np.int64)

    def get_model(self, model_id: str) -> ModelRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_MODEL_COLUMNS} FROM models WHERE model_id = ?",
                                   (model_id,)).fetchone()
        return _record(row) if row else None

    def list_models(self) -> list[ModelRecord]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_MODEL_COLUMNS} FROM models ORDER BY model_id").fetchall()
        return [_record(r) for r in rows]

    def file_hash(self, model_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT file_hash FROM models WHERE model_id = ?", (model_id,)).fetchone()
        return row[0] if row else None

    # -- views ----------------------------------------------------------------------------------

    def view_ids(self, model_id: str) -> np.ndarray:
        """View ids (n,) int64 of one model."""
        with self._lock:
            rows = self._db.execute("SELECT view_id FROM views WHERE model_id = ?", (model_id,)).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def count_views(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM views").fetchone()[0])

    def view_counts(self) -> dict[str, int]:
        """Number of views per model id."""
        with self._lock:
            rows = self._db.execute("SELECT model_id, COUNT(*) FROM views GROUP BY model_id").fetchall()
        return {m: int(n) for m, n in rows}

    def view_table(self) -> ViewTable:
        """Every view's metadata as arrays, ordered by view id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT view_id, model_id, cx, cy, cz, polar_deg, azimuth_deg, image_path "
                "FROM views ORDER BY view_id").fetchall()
        cols = list(zip(*rows)) if rows else [()] * 8
        return ViewTable(
            ids=np.array(cols[0], dtype=np.int64),
            model_ids=np.array(cols[1], dtype=object),
            cameras=np.array(list(zip(cols[2], cols[3], cols[4])), dtype=np.float64).reshape(-1, 3),
            polar_deg=np.array(cols[5], dtype=np.float64),
            azimuth_deg=np.array(cols[6], dtype=np.float64),
            image_paths=np.array(cols[7], dtype=object),
        )

    def embeddings(self, batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields (ids (b,) int64, vectors (b, d) float32) in view-id order, in batches."""
        last = -1
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT view_id, embedding FROM views WHERE view_id > ? ORDER BY view_id LIMIT ?",
                    (last, batch)).fetchall()
            if not rows:
                return
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            yield ids, np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            last = int(ids[-1])

    def seat_kind_counts(self) -> dict[str | None, tuple[int, int]]:
        """{seat kind (None = unknown): (models, views)}."""
        with self._lock:
            rows = self._db.execute(
                "SELECT m.seat_kind, COUNT(DISTINCT m.model_id), COUNT(v.view_id) FROM models m "
                "LEFT JOIN views v ON v.model_id = m.model_id GROUP BY m.seat_kind").fetchall()
        return {kind: (int(models), int(views)) for kind, models, views in rows}

    # -- key/value metadata ---------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


_MODEL_COLUMNS = "model_id, name, file_path, file_hash, seat_kind, category, licence, creator, source, extra"


def _record(row: tuple) -> ModelRecord:
    values = list(row)
    values[-1] = json.loads(values[-1] or "{}")
    return ModelRecord(*values)
