"""Seat-kind heads as the service and CLI see them: fitting one for Lite0 on the photo-like training set
(without the evaluation's held-out models and panoramas) and attaching the configured one to an embedder."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.settings import Settings
from index.collection import Collection
from index.kinds import fit_kind_classifier
from models.embedder import Embedder
from models.kind_head import SHIPPED_DIR, KindHead, KindHeadError, WithKindHead, head_for
from models.versions import installed_versions

if TYPE_CHECKING:
    from app.adapter import PhotoTrainingSet
    from models.adapter_features import FeatureConfig

log = logging.getLogger(__name__)
L2 = 10.0  # ridge strength, chosen on the real photos' dev split (EVALUATION.md)
VERSIONED = ("tensorflow-cpu", "tensorflow", "numpy", "pyrender", "trimesh")


def kind_head_path(settings: Settings, embedder_name: str) -> Path:
    """The configured head file, else the one shipped for this embedder."""
    return settings.kind_head_file or SHIPPED_DIR / f"{embedder_name}.npz"


def with_kind_head(settings: Settings, embedder: Embedder) -> Embedder:
    """The embedder with its seat-kind head attached when settings.kind_head is on and a head file for
    it exists and fits its weights; else the embedder itself (a head that does not fit is logged)."""
    path = kind_head_path(settings, embedder.info.name)
    if not settings.kind_head or not path.is_file():
        return embedder
    try:
        return WithKindHead(embedder, KindHead.load(path))
    except KindHeadError as exc:
        log.warning("seat kinds from the index's classifier, not the head: %s", exc)
        return embedder


def fit_kind_head(data: PhotoTrainingSet, info, l2: float = L2, extra: dict | None = None) -> KindHead:
    """The class-balanced ridge (index.kinds) on the training set's photo-like query vectors, labelled
    by their models' seat kinds; info: the EmbedderInfo of the vectors. The manifest names what it saw."""
    model_ids = np.array(data.queries.model_ids)[data.queries.model]
    classifier = fit_kind_classifier(data.queries.features, model_ids, dict(zip(data.queries.model_ids, data.kinds)),
                                     l2=l2)
    if classifier is None:
        raise KindHeadError("no training vector has a seat kind")
    manifest = {"kind": "seat-kind head", "fit": {"method": "class-balanced ridge (index.kinds)", "l2": l2,
                                                   "temperature": classifier.temperature},
                "data": {**data.info, **(extra or {}), "models": len(data.queries.model_ids),
                         "model_ids": data.queries.model_ids, "queries": len(data.queries.features),
                         "kinds": dict(Counter(data.kinds))},
                "versions": installed_versions(VERSIONED),
                "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    return head_for(info, classifier.kinds, classifier.weights, classifier.temperature, manifest)


def fit_lite0_kind_head(settings: Settings, features: FeatureConfig, lite0_index: Path, cache_dir: Path,
                        heldout_models: list[str], heldout_panoramas: list[str], split_seed: int | None,
                        extra_shapes: Sequence[Path] = (), extra_queries: int = 24, l2: float = L2,
                        progress: bool = True) -> KindHead:
    """A head for the vectors of the `efficientnet_lite0` index at lite0_index, fitted on
    app.adapter.photo_training_set (same arguments, same hold-outs as train-adapter)."""
    from app.adapter import photo_training_set

    data = photo_training_set(settings, features, lite0_index, cache_dir, heldout_models, heldout_panoramas,
                              split_seed, progress, extra_shapes, extra_queries)
    return fit_kind_head(data, Collection.open_manifest_embedder(lite0_index / "manifest.json"), l2)
