"""The Lite0 adapter as the service and CLI see it: where the trained adapter lives, training it on the
default catalogue (without the evaluation's held-out models and panoramas), loading it as an embedder,
and deriving its index from an `efficientnet_lite0` index without rendering again."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import models
from app.scratch import _training_model
from app.settings import Settings
from index.build import ModelSource, index_models, view_cameras
from index.collection import Collection
from index.lock import index_write_lock

if TYPE_CHECKING:  # TensorFlow is imported only when training or embedding
    from models.adapter import AdapterEmbedder
    from models.adapter_features import FeatureConfig, QueryFeatures
    from models.train_adapter import AdapterTrainConfig, CleanViews
    from models.training_data import TrainingModel

# Shipped as package data of `models`; rebuilt with `photo2cad train-adapter --out models/artifacts/lite0_adapter`.
SHIPPED_DIR = Path(models.__file__).resolve().parent / "artifacts" / "lite0_adapter"
BACKGROUND_POOL = 512
# Extra training shapes (e.g. training_shapes/infinigen) have no catalogue index: their clean views come
# from a Lite0 index of their own, rendered from the icosphere level-1 cameras of the polar range
# (24 views a shape, against the catalogue's 82) to keep the first run short.
SHAPES_VIEW_COUNT = 1


def adapter_dir(settings: Settings) -> Path:
    """The configured folder, else an adapter trained into data_dir (a finished run: its weights and config
    written last), else the one shipped in the repository. Imports no training code (the service calls it)."""
    from models.adapter import CONFIG_FILE, WEIGHTS_FILE
    from models.model_folder import missing_model_files

    if settings.adapter_model_dir:
        return settings.adapter_model_dir
    trained = settings.trained_adapter_dir
    return SHIPPED_DIR if missing_model_files(trained, CONFIG_FILE, WEIGHTS_FILE) else trained


def load_adapter_embedder(settings: Settings, folder: Path | None = None) -> AdapterEmbedder:
    from models.adapter import BACKBONE, AdapterConfig, AdapterEmbedder
    from models.transfer import build_embedder

    folder = folder or adapter_dir(settings)
    size = AdapterConfig.load(folder / "config.json").input_size_px if (folder / "config.json").exists() else None
    backbone = build_embedder(BACKBONE, settings.weights_dir, **({"input_size_px": size} if size else {}))
    return AdapterEmbedder(folder, backbone)


def train_lite0_adapter(settings: Settings, config: AdapterTrainConfig, features: FeatureConfig, out_dir: Path,
                        lite0_index: Path, cache_dir: Path, heldout_models: list[str],
                        heldout_panoramas: list[str], split_seed: int | None, progress: bool = True,
                        extra_shapes: Sequence[Path] = (), extra_queries: int = 24,
                        shapes_index: Path | None = None) -> dict:
    """Train the adapter into out_dir on `photo_training_set` (same arguments). Returns the manifest."""
    from models.train_adapter import train_adapter

    data = photo_training_set(settings, features, lite0_index, cache_dir, heldout_models, heldout_panoramas,
                              split_seed, progress, extra_shapes, extra_queries, shapes_index)
    return train_adapter(data.queries, data.clean, data.kinds, view_cameras(settings.view_config()), out_dir,
                         config, data.info, progress)


@dataclass
class PhotoTrainingSet:
    """Backbone features of photo-like renders (queries) with the clean views of the same models;
    kinds: one seat kind per queries.model_ids; info: where it all came from (for manifests)."""

    queries: QueryFeatures
    clean: CleanViews
    kinds: list[str]
    info: dict


def photo_training_set(settings: Settings, features: FeatureConfig, lite0_index: Path, cache_dir: Path,
                       heldout_models: list[str], heldout_panoramas: list[str], split_seed: int | None,
                       progress: bool = True, extra_shapes: Sequence[Path] = (), extra_queries: int = 24,
                       shapes_index: Path | None = None) -> PhotoTrainingSet:
    """Features of randomised renders of the default catalogue's models but the held-out ones and those the
    Lite0 index lacks (they have no clean views; rebuild that index to train on them) (cached in
    cache_dir), over crops of the panoramas but the held-out ones, paired with the clean views of the
    same models stored in the `efficientnet_lite0` index at lite0_index.
    The CLI passes the evaluation's hold-outs (drawn with split_seed; None: nothing held out).
    extra_shapes: manifest.json files of extra training shape sets (models.training_data.shape_set_models),
    `extra_queries` randomised renders each, their clean views from a Lite0 index of their own at
    shapes_index (default: cache_dir's sibling `shapes_index`; built or finished here, SHAPES_VIEW_COUNT)."""
    from app.bootstrap import ensure_catalogue, hdri_dir
    from models.adapter import BACKBONE
    from models.adapter_features import query_features
    from models.augment import background_pool
    from models.training_data import shape_set_models
    from models.transfer import build_embedder
    from render.backgrounds import load_panorama

    extra = [m for manifest in extra_shapes for m in shape_set_models(manifest)]  # a bad set fails first
    indexed = _indexed_models(lite0_index)
    entries = [e for e in ensure_catalogue(settings) if e.model_id not in heldout_models]
    train_models = [_training_model(e) for e in entries if e.model_id in indexed]
    panorama_files = [p for p in sorted(hdri_dir(settings).glob("*.exr")) if p.name not in heldout_panoramas]
    backbone = build_embedder(BACKBONE, settings.weights_dir, input_size_px=features.input_size_px)
    pool = background_pool([load_panorama(p) for p in panorama_files], features.input_size_px,
                           BACKGROUND_POOL, features.seed)
    began = time.time()
    queries = query_features(train_models, backbone, pool, features, cache_dir, settings.render_workers, progress)
    clean = clean_views(lite0_index, backbone.info, queries.model_ids)
    info = {"catalogue": str(settings.catalogue_dir), "heldout_models_excluded": heldout_models,
            "heldout_panoramas_excluded": heldout_panoramas, "split_seed": split_seed,
            "panoramas": [p.name for p in panorama_files],
            "features": features.to_json(), "lite0_index": str(lite0_index),
            "not_in_lite0_index": sorted(e.model_id for e in entries if e.model_id not in indexed)}
    kinds = [m.seat_kind for m in train_models]
    if extra:
        shapes_index = shapes_index or cache_dir.parent / "shapes_index"
        index_training_shapes(settings, extra, shapes_index, backbone, progress)
        more = query_features(extra, backbone, pool, replace(features, queries=extra_queries), cache_dir,
                              settings.render_workers, progress)
        queries, clean = join_training_sets(queries, clean, more, clean_views(shapes_index, backbone.info,
                                                                              more.model_ids))
        kinds += [m.seat_kind for m in extra]
        info |= {"extra_shape_sets": [str(p) for p in extra_shapes], "extra_shapes": len(extra),
                 "extra_queries_per_shape": extra_queries, "shapes_index": str(shapes_index)}
    info["feature_seconds_this_run"] = round(time.time() - began, 1)
    return PhotoTrainingSet(queries, clean, kinds, info)


def index_training_shapes(settings: Settings, shapes: Sequence[TrainingModel], index_dir: Path, embedder,
                          progress: bool = True) -> None:
    """Build (or finish: resumable like any index) the index of extra training shapes at index_dir with
    `embedder` (the adapter's backbone, as in the catalogue's Lite0 index), the catalogue index's view
    settings but SHAPES_VIEW_COUNT cameras; it only serves training."""
    from app.bootstrap import versions

    views = replace(settings.view_config(), count=SHAPES_VIEW_COUNT)
    sources = [ModelSource(m.model_id, Path(m.path), Path(m.path).stem, seat_kind=m.seat_kind) for m in shapes]
    with index_write_lock(index_dir):
        collection = Collection.open_or_create(index_dir, embedder.info, views, "Flat", versions(),
                                               holding_lock=True)
        try:
            report = index_models(collection, embedder, sources, settings.render_workers, progress)
        finally:
            collection.close()
    if report.failed:
        from models.train_adapter import TrainingError

        raise TrainingError(f"{len(report.failed)} training shapes did not render, e.g. {report.failed[0]}")


def join_training_sets(queries: QueryFeatures, clean: CleanViews, more: QueryFeatures, more_clean: CleanViews,
                       ) -> tuple[QueryFeatures, CleanViews]:
    """Two training sets (queries with the clean views of the same models) as one: the second's model
    indices shifted past the first's. Both must come from the same backbone at the same input size."""
    from models.adapter_features import QueryFeatures
    from models.train_adapter import CleanViews, TrainingError

    if queries.input_size_px != more.input_size_px or set(queries.model_ids) & set(more.model_ids):
        raise TrainingError("training sets to join must share the input size and no model id")
    n = len(queries.model_ids)
    joined = QueryFeatures(np.concatenate([queries.features, more.features]),
                           np.concatenate([queries.model, more.model + n]),
                           np.concatenate([queries.cameras, more.cameras]), queries.model_ids + more.model_ids,
                           queries.input_size_px, np.concatenate([queries.random_materials, more.random_materials]))
    return joined, CleanViews(np.concatenate([clean.features, more_clean.features]),
                              np.concatenate([clean.model, more_clean.model + n]),
                              np.concatenate([clean.cameras, more_clean.cameras]))


def _indexed_models(lite0_index: Path) -> set[str]:
    """Ids of the models an index holds (training needs their clean views)."""
    collection = Collection.open(lite0_index)
    try:
        return set(collection.store.view_counts())
    finally:
        collection.close()


def clean_views(lite0_index: Path, backbone_info, model_ids: list[str]) -> CleanViews:
    """The stored views of `model_ids` in an index built with the backbone (refused otherwise)."""
    from models.train_adapter import CleanViews, TrainingError

    collection = Collection.open(lite0_index)
    try:
        collection.check_embedder(backbone_info)
        table = collection.store.view_table()
        vectors = np.concatenate([v for _, v in collection.store.embeddings()])
    finally:
        collection.close()
    position = {m: i for i, m in enumerate(model_ids)}
    keep = np.array([m in position for m in table.model_ids], bool)
    missing = set(model_ids) - set(table.model_ids[keep])
    if missing:
        raise TrainingError(f"the index {lite0_index} lacks {len(missing)} training models, e.g. {min(missing)}")
    return CleanViews(vectors[keep], np.array([position[m] for m in table.model_ids[keep]]), table.cameras[keep])


def derive_adapter_index(lite0_index: Path, out_dir: Path, embedder: AdapterEmbedder, factory: str,
                         versions: dict) -> Collection:
    """An index for `embedder` made from a Lite0 index built with its backbone: the same models, cameras
    and view images, each stored vector mapped through the adapter (no rendering). out_dir must not
    hold an index yet."""
    source = Collection.open(lite0_index)
    try:
        source.check_embedder(embedder.backbone.info)
        table = source.store.view_table()
        vectors = np.concatenate([v for _, v in source.store.embeddings()])
        target = Collection.create(out_dir, embedder.info, source.view_config, factory, versions)
        for record in source.store.list_models():
            rows = table.model_ids == record.model_id
            paths = [str((lite0_index / p).resolve()) if p else None for p in table.image_paths[rows]]
            target.put_model(record, table.cameras[rows], embedder.adapt(vectors[rows]), paths)
        target.save()
        return target
    finally:
        source.close()
