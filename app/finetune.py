"""The fine-tuned Lite0 (`lite0_finetuned`) as the service and CLI see it: where the trained network lives,
loading it as an embedder, and training it (models.finetune) on the default catalogue without the
evaluation's held-out models and panoramas, optionally with extra training shapes.

Training data: randomised renders of the training models (`photo2cad train-adapter`'s domain
randomisation) and the stored clean views of the same models (the `efficientnet_lite0` index's JPEGs; an
extra shape set's from a Lite0 index of its own, app.adapter.index_training_shapes), as cached trunk
activations (float16, 44 kB an image at 224 px): `photo2cad train-finetune`, resumable.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import models
from app.adapter import BACKGROUND_POOL, _indexed_models, index_training_shapes, join_training_sets
from app.scratch import _training_model
from app.settings import Settings
from index.build import view_cameras
from index.collection import Collection

if TYPE_CHECKING:  # TensorFlow is imported only when training or embedding
    from models.finetuned import FinetunedEmbedder

# Shipped as package data of `models`; rebuilt with `photo2cad train-finetune --out models/artifacts/lite0_finetuned`.
SHIPPED_DIR = Path(models.__file__).resolve().parent / "artifacts" / "lite0_finetuned"


def finetuned_dir(settings: Settings) -> Path:
    """The configured folder, else a network trained into data_dir (a finished run: its weights and config
    written last), else the one shipped in the repository. Imports no training code (the service calls it)."""
    from models.finetuned import CONFIG_FILE, WEIGHTS_FILE
    from models.model_folder import missing_model_files

    if settings.finetuned_model_dir:
        return settings.finetuned_model_dir
    trained = settings.trained_finetuned_dir
    return SHIPPED_DIR if missing_model_files(trained, CONFIG_FILE, WEIGHTS_FILE) else trained


def load_finetuned_embedder(settings: Settings, folder: Path | None = None) -> FinetunedEmbedder:
    """The lite0_finetuned embedder of `folder` (default finetuned_dir) on the registry's Lite0 weights."""
    from models.finetuned import FinetunedEmbedder
    from models.transfer import describe_weights
    from models.weights import prepare_weights

    weights = prepare_weights("efficientnet_lite0", settings.weights_dir, progress=False)
    return FinetunedEmbedder(folder or finetuned_dir(settings), weights, describe_weights(weights, "ImageNet Lite0"))


def train_lite0_finetune(settings: Settings, config, features, out_dir: Path, lite0_index: Path, cache_dir: Path,
                         heldout_models: list[str], heldout_panoramas: list[str], split_seed: int | None,
                         progress: bool = True, extra_shapes: Sequence[Path] = (), extra_queries: int = 24,
                         shapes_index: Path | None = None, render_seeds: Sequence[int] = ()) -> dict:
    """Train models.finetune's network (config: FinetuneConfig; features: adapter_features.FeatureConfig)
    into out_dir on finetune_training_data's set (the same arguments). Returns the manifest."""
    from models.finetune import train_finetune

    data = finetune_training_data(settings, config.first_block, features, lite0_index, cache_dir, heldout_models,
                                  heldout_panoramas, split_seed, progress, extra_shapes, extra_queries, shapes_index,
                                  render_seeds)
    return train_finetune(data.queries, data.clean, data.kinds, data.grid, data.top, out_dir, config, data.info,
                          progress)


@dataclass
class FinetuneData:
    """What train_finetune learns from: queries (adapter_features.QueryFeatures of flattened trunk
    activations), clean (finetune.CleanViews), kinds (one per queries.model_ids), grid (v, 3) the Lite0
    index's view cameras, top (the trainable Lite0 top, ImageNet weights) and info (the manifest's data)."""

    queries: object
    clean: object
    kinds: list[str]
    grid: np.ndarray
    top: object
    info: dict


def finetune_training_data(settings: Settings, first_block: int, features, lite0_index: Path, cache_dir: Path,
                           heldout_models: list[str], heldout_panoramas: list[str], split_seed: int | None,
                           progress: bool = True, extra_shapes: Sequence[Path] = (), extra_queries: int = 24,
                           shapes_index: Path | None = None, render_seeds: Sequence[int] = ()) -> FinetuneData:
    """The training set on the catalogue models of lite0_index but the held-out ones, over crops of the
    panoramas but the held-out ones; activations of Lite0 cut before first_block cached in
    cache_dir/{queries,clean}. extra_shapes: manifests of extra shape sets, `extra_queries` renders each,
    clean views from the Lite0 index at shapes_index (default cache_dir's sibling `shapes_index`, shared
    with train-adapter). render_seeds: draw every model's randomised renders (cameras, lights, augmentation,
    background crops) once with each of these seeds and train on all of them; default (features.seed,)."""
    from app.bootstrap import ensure_catalogue, hdri_dir
    from models.finetune import lite0_parts
    from models.training_data import shape_set_models
    from models.transfer import build_embedder
    from models.weights import prepare_weights
    from render.backgrounds import load_panorama

    extra = [m for manifest in extra_shapes for m in shape_set_models(manifest)]  # a bad set fails first
    indexed = _indexed_models(lite0_index)
    entries = [e for e in ensure_catalogue(settings) if e.model_id not in heldout_models]
    train_models = [_training_model(e) for e in entries if e.model_id in indexed]
    panorama_files = [p for p in sorted(hdri_dir(settings).glob("*.exr")) if p.name not in heldout_panoramas]
    weights = prepare_weights("efficientnet_lite0", settings.weights_dir, progress=False)
    trunk, top = lite0_parts(weights, first_block, features.input_size_px)
    panoramas = [load_panorama(p) for p in panorama_files]
    seeds = list(render_seeds) or [features.seed]
    began = time.time()
    queries = _randomised(train_models, trunk, panoramas, features, seeds, cache_dir, settings, progress)
    clean = _clean(lite0_index, trunk, cache_dir, progress).for_models(queries.model_ids)
    kinds = [m.seat_kind for m in train_models]
    info = {"catalogue": str(settings.catalogue_dir), "heldout_models_excluded": heldout_models,
            "heldout_panoramas_excluded": heldout_panoramas, "split_seed": split_seed,
            "panoramas": [p.name for p in panorama_files], "features": features.to_json(),
            "lite0_index": str(lite0_index), "lite0_weights": str(weights),
            "trunk_activation_shape": list(trunk.shape), "activation_dtype": "float16",
            "not_in_lite0_index": sorted(e.model_id for e in entries if e.model_id not in indexed),
            "render_seeds": seeds}
    if extra:
        shapes_index = shapes_index or cache_dir.parent / "shapes_index"
        index_training_shapes(settings, extra, shapes_index, build_embedder(
            "efficientnet_lite0", settings.weights_dir, input_size_px=features.input_size_px), progress)
        more = _randomised(extra, trunk, panoramas, replace(features, queries=extra_queries), seeds, cache_dir,
                           settings, progress)
        more_clean = _clean(shapes_index, trunk, cache_dir, progress).for_models(more.model_ids)
        queries, clean = join_training_sets(queries, clean, more, more_clean)
        kinds += [m.seat_kind for m in extra]
        info |= {"extra_shape_sets": [str(p) for p in extra_shapes], "extra_shapes": len(extra),
                 "extra_queries_per_shape": extra_queries, "shapes_index": str(shapes_index)}
    info["cache_seconds_this_run"] = round(time.time() - began, 1)
    return FinetuneData(queries, clean, kinds, view_cameras(_view_config(lite0_index)), top, info)


def _randomised(train_models: list, trunk, panoramas: list[np.ndarray], features, seeds: list[int], cache_dir: Path,
                settings: Settings, progress: bool):
    """adapter_features.QueryFeatures of the trunk's activations of `features.queries` randomised renders of
    each model per seed in seeds (each seed its own background crops), rows of all seeds stacked."""
    from models.adapter_features import query_features, stack_queries
    from models.augment import background_pool

    parts = []
    for seed in seeds:
        pool = background_pool(panoramas, features.input_size_px, BACKGROUND_POOL, seed)
        parts.append(query_features(train_models, trunk, pool, replace(features, seed=seed), cache_dir / "queries",
                                    settings.render_workers, progress, normalise=False))
    return stack_queries(parts)


def _clean(index_dir: Path, trunk, cache_dir: Path, progress: bool):
    """models.finetune.CleanActivations of the stored views of the index at index_dir."""
    from models.finetune import clean_activations

    collection = Collection.open(index_dir)
    try:
        table = collection.store.view_table()
    finally:
        collection.close()
    return clean_activations(index_dir, table, trunk, cache_dir / "clean", progress)


def _view_config(index_dir: Path):
    collection = Collection.open(index_dir)
    try:
        return collection.view_config
    finally:
        collection.close()
