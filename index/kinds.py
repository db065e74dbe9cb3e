"""Seat-kind classifier on view embeddings: the kind of a seat whose model is not in the catalogue.

Class-balanced ridge regression (one-vs-rest targets +-1, bias column, closed form
(X^T W X + l2 mean(w) I)^-1 X^T W Y); every kind weighs the same in the fit and, within a kind, every
model the same. Probabilities: softmax(scores / temperature). l2 and temperature were chosen by
leave-models-out cross-validation on the training models of the evaluation split (docs/kinds.md).
The fit of a whole index is cached in its folder (kinds.npz), keyed by its views, kinds and settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Collection as Ids
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.collection import Collection
from index.store import ViewTable

log = logging.getLogger(__name__)
L2 = 1.0
TEMPERATURE = 0.3
CACHE_FILE = "kinds.npz"
CACHE_FORMAT = 1


@dataclass(frozen=True)
class KindClassifier:
    """kinds (k,) sorted names; weights (d + 1, k) float32, the last row the bias; temperature > 0."""

    kinds: tuple[str, ...]
    weights: np.ndarray
    temperature: float

    def probabilities(self, queries: np.ndarray) -> np.ndarray:
        """queries (q, d) float32 unit rows -> (q, k) float64, rows sum to 1, columns in `kinds` order."""
        scores = np.asarray(queries, np.float64) @ self.weights[:-1] + self.weights[-1]
        return _softmax(scores / self.temperature)

    def save(self, path: Path, key: str) -> None:
        """Write atomically (temp file + fsync + rename) with the key it was fitted under."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, kinds=np.array(self.kinds, dtype=str), weights=self.weights,
                     temperature=self.temperature, key=key)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, key: str) -> KindClassifier | None:
        """The classifier saved at path under `key`, else None (missing, other key, unreadable)."""
        try:
            with np.load(path, allow_pickle=False) as saved:
                if str(saved["key"]) != key:
                    return None
                return cls(tuple(str(k) for k in saved["kinds"]), saved["weights"],
                           float(saved["temperature"]))
        except (OSError, KeyError, ValueError) as exc:
            if Path(path).exists():
                log.warning("ignoring the seat-kind cache %s: %s", path, exc)
            return None


def fit_kind_classifier(embeddings: np.ndarray, view_models: np.ndarray, model_kinds: dict[str, str | None],
                        exclude: Ids[str] = (), l2: float = L2, temperature: float = TEMPERATURE,
                        ) -> KindClassifier | None:
    """Fit on views: embeddings (n, d) float32 unit rows, view_models (n,) their model ids. Views of
    models without a kind or in `exclude` are left out. None when no view is left."""
    kinds_of_views = np.array([None if m in exclude else model_kinds.get(m) for m in view_models], dtype=object)
    keep = np.array([k is not None for k in kinds_of_views], dtype=bool)
    if not keep.any():
        return None
    kinds = tuple(sorted(set(kinds_of_views[keep])))
    labels = np.array([kinds.index(k) for k in kinds_of_views[keep]])
    weights = balanced_weights(labels, np.asarray(view_models)[keep])
    features = np.hstack([np.asarray(embeddings, np.float64)[keep], np.ones((len(labels), 1))])
    targets = np.eye(len(kinds))[labels] * 2 - 1
    gram = features.T @ (features * weights[:, None])
    gram[np.diag_indices_from(gram)] += l2 * weights.mean()
    solution = np.linalg.solve(gram, features.T @ (targets * weights[:, None]))
    return KindClassifier(kinds, solution.astype(np.float32), temperature)


def balanced_weights(labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per-sample weights (n,) with mean 1: each label gets the same total, shared equally by its groups
    (models), and each group's share equally by its samples (views)."""
    weights = np.zeros(len(labels))
    for label in np.unique(labels):
        in_label = labels == label
        models, counts = np.unique(groups[in_label], return_counts=True)
        per_view = dict(zip(models, 1.0 / (len(models) * counts)))
        weights[in_label] = [per_view[g] for g in groups[in_label]]
    return weights * len(weights) / weights.sum()


def collection_kind_classifier(collection: Collection, exclude: Ids[str] = ()) -> KindClassifier | None:
    """The classifier of a collection's stored views. Without exclusions it is read from the index
    folder's cache when its key matches, else fitted and cached (best effort: a read-only folder only
    costs a refit); with exclusions (evaluation hold-outs) it is always fitted afresh."""
    table = collection.store.view_table()
    model_kinds = {m.model_id: m.seat_kind for m in collection.store.list_models()}
    if exclude:
        return _fit_stored(collection, table, model_kinds, exclude)
    key = cache_key(table.ids, table.model_ids, model_kinds, collection.manifest["embedder"])
    path = collection.root / CACHE_FILE
    cached = KindClassifier.load(path, key)
    if cached is not None:
        return cached
    classifier = _fit_stored(collection, table, model_kinds)
    if classifier is not None:
        try:
            classifier.save(path, key)
        except OSError as exc:
            log.warning("cannot cache the seat-kind classifier in %s: %s", path, exc)
    return classifier


def cache_key(view_ids: np.ndarray, view_models: np.ndarray, model_kinds: dict[str, str | None],
              embedder: dict, l2: float = L2, temperature: float = TEMPERATURE) -> str:
    """A digest of what the fit depends on: view ids (never reused by the store, so new or replaced
    views change it), each view's model, the models' kinds, the embedder and the fit's settings."""
    digest = hashlib.sha256(np.ascontiguousarray(view_ids, np.int64).tobytes())
    digest.update("\n".join(map(str, view_models)).encode())
    digest.update(json.dumps([CACHE_FORMAT, sorted(model_kinds.items()), embedder, l2, temperature],
                             sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _fit_stored(collection: Collection, table: ViewTable, model_kinds: dict[str, str | None],
                exclude: Ids[str] = ()) -> KindClassifier | None:
    """Fit on the store's embeddings of the views in `table` (both in view-id order)."""
    batches = list(collection.store.embeddings())
    ids = np.concatenate([ids for ids, _ in batches]) if batches else np.zeros(0, np.int64)
    if not np.array_equal(ids, table.ids):
        raise ValueError("the index changed while its seat-kind classifier was being fitted")
    if not batches:
        return None
    embeddings = np.concatenate([vectors for _, vectors in batches])
    return fit_kind_classifier(embeddings, table.model_ids, model_kinds, exclude)


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
