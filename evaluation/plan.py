"""Which indexes an evaluation run compares, and what training must leave out for it.

The CLI (app/) knows the settings and builds indexes; it hands this module an IndexSource that opens
or builds them, so the choice of targets, baselines and hold-outs lives here, out of the service.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from evaluation.leakage import TrainingData
from evaluation.refine import RenderCompareRefiner
from evaluation.report import EvalTarget, PoseBaseline, coarser_copy
from evaluation.splits import holdouts
from index.collection import Collection
from models.embedder import Embedder
from models.kind_head import WithKindHead

SCRATCH = "scratch_cnn"  # models.scratch.NAME, not imported: that module loads TensorFlow
TRAINED = (SCRATCH, "lite0_adapter", "lite0_finetuned")  # embedders trained on the catalogue (models.adapter.NAME,
# models.finetuned.NAME)
EVALUATION_SEED = 0  # the seed `photo2cad evaluate` draws its held-out models and panoramas with


class IndexSource(Protocol):
    """Opens (building if needed) the indexes an evaluation compares; implemented by the CLI."""

    configured_name: str
    copies_dir: Path

    def configured(self) -> tuple[Collection, Embedder]: ...
    def own(self, name: str, level: int) -> tuple[Collection, Embedder]: ...
    def random_init(self, level: int) -> tuple[Collection, Embedder]: ...


@dataclass(frozen=True)
class TrainingHoldouts:
    """What a training run leaves out so that `photo2cad evaluate` (same seed) stays honest."""

    models: list[str]
    panoramas: list[str]
    split_seed: int | None


def training_holdouts(catalogue_ids: list[str], panoramas: list[str], seed: int = EVALUATION_SEED,
                      include_heldout: bool = False) -> TrainingHoldouts:
    """The held-out model ids and test panorama names training must skip: the evaluation's first draws
    from the same catalogue ids (evaluation.splits.make_split with catalogue_ids). include_heldout:
    skip nothing (the model then cannot be evaluated on held-out data)."""
    if include_heldout:
        return TrainingHoldouts([], [], None)
    heldout, _, test_panoramas = holdouts(sorted(catalogue_ids), sorted(panoramas), seed)
    return TrainingHoldouts(heldout, test_panoramas, seed)


def plan_targets(names: list[str], level: int, indexes: IndexSource, random_baseline: bool = True,
                 refine: bool = False) -> list[EvalTarget]:
    """The evaluation targets: each named embedder's index (the configured one also reduced to
    icosphere `level`), the random-init baseline, refiners and trained embedders' training data."""
    targets = [t for name in names for t in _targets(name, level, indexes)]
    if random_baseline:
        collection, embedder = indexes.random_init(level)
        targets.append(EvalTarget(f"efficientnet_lite0 random init (icosphere {level})", collection, embedder,
                                  "random-initialisation baseline"))
    for target in targets:
        if target.embedder.info.name in TRAINED:  # a trained embedder: checked for leakage
            config = target.embedder.config
            manifest = config.extra.get("manifest", {})
            target.trained_on = replace(TrainingData.from_manifest(manifest), models=tuple(config.model_ids))
            target.notes = trained_notes(manifest)
        elif isinstance(target.embedder, WithKindHead):  # its seat-kind head was fitted: checked too
            target.trained_on = TrainingData.from_manifest(target.embedder.head.manifest)
            target.notes = "Seat kinds from its head fitted on photo-like renders (models/kind_head.py)."
        if refine and "random" not in target.label and target.collection.view_config.count > level:
            target.refiner = RenderCompareRefiner()
    return targets


def _targets(name: str, level: int, indexes: IndexSource) -> list[EvalTarget]:
    if name == indexes.configured_name:
        collection, embedder = indexes.configured()
        copy = coarser_copy(collection, level, indexes.copies_dir / f"{name}_l{level}_copy")
        return [EvalTarget(f"{name} (icosphere {collection.view_config.count})", collection, embedder),
                EvalTarget(f"{name} (icosphere {level})", copy, embedder)]
    collection, embedder = indexes.own(name, level)
    return [EvalTarget(f"{name} (icosphere {collection.view_config.count})", collection, embedder)]


def trained_notes(manifest: dict) -> str:
    """One sentence on a trained embedder's data, for the report."""
    data = manifest.get("data", {})
    minutes = sum(h.get("seconds", 0) for h in manifest.get("history", [])) / 60
    return (f"Trained on {data.get('models', '?')} models ({data.get('training_images', '?')} images, "
            f"{manifest.get('epochs_done', '?')} epochs, {minutes:.0f} min), without the "
            f"{len(data.get('heldout_models_excluded', []))} held-out models.")


def objectron_baseline(weights_dir: Path) -> PoseBaseline:
    """Objectron's chair pose on the query images (fetches its model into weights_dir once)."""
    from evaluation.objectron_baseline import objectron_errors
    from models.objectron import ObjectronPose, fetch_objectron_model

    estimator = ObjectronPose(fetch_objectron_model(weights_dir / "objectron"))

    def estimate(images: np.ndarray, cameras: np.ndarray) -> dict:
        return objectron_errors(images, cameras, estimator, progress=False)

    return estimate
