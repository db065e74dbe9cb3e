"""The Lite0 adapter as the service and CLI see it: where the trained adapter lives, training it on the
default catalogue (without the evaluation's held-out models and panoramas), loading it as an embedder,
and deriving its index from an `efficientnet_lite0` index without rendering again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import models
from app.scratch import _training_model
from app.settings import Settings
from index.build import view_cameras
from index.collection import Collection

if TYPE_CHECKING:  # TensorFlow is imported only when training or embedding
    from models.adapter import AdapterEmbedder
    from models.adapter_features import FeatureConfig
    from models.train_adapter import AdapterTrainConfig, CleanViews

# Shipped as package data of `models`; rebuilt with `photo2cad train-adapter --out models/artifacts/lite0_adapter`.
SHIPPED_DIR = Path(models.__file__).resolve().parent / "artifacts" / "lite0_adapter"
BACKGROUND_POOL = 512


def adapter_dir(settings: Settings) -> Path:
    """The configured folder, else an adapter trained into data_dir, else the one shipped in the repository."""
    from models.train_adapter import is_trained

    if settings.adapter_model_dir:
        return settings.adapter_model_dir
    return settings.trained_adapter_dir if is_trained(settings.trained_adapter_dir) else SHIPPED_DIR


def load_adapter_embedder(settings: Settings, folder: Path | None = None) -> AdapterEmbedder:
    from models.adapter import BACKBONE, AdapterConfig, AdapterEmbedder
    from models.transfer import build_embedder

    folder = folder or adapter_dir(settings)
    size = AdapterConfig.load(folder / "config.json").input_size_px if (folder / "config.json").exists() else None
    backbone = build_embedder(BACKBONE, settings.weights_dir, **({"input_size_px": size} if size else {}))
    return AdapterEmbedder(folder, backbone)


def train_lite0_adapter(settings: Settings, config: AdapterTrainConfig, features: FeatureConfig, out_dir: Path,
                        lite0_index: Path, cache_dir: Path, heldout_models: list[str],
                        heldout_panoramas: list[str], split_seed: int | None, progress: bool = True) -> dict:
    """Features of randomised renders of the default catalogue's models but the held-out ones and those the
    Lite0 index lacks (they have no clean views; rebuild that index to train on them) (cached in
    cache_dir), over crops of the panoramas but the held-out ones, paired with the clean views of the
    same models stored in the `efficientnet_lite0` index at lite0_index: train the adapter into out_dir.
    The CLI passes the evaluation's hold-outs (drawn with split_seed; None: nothing held out).
    Returns the manifest."""
    from app.bootstrap import ensure_catalogue, hdri_dir
    from models.adapter import BACKBONE
    from models.adapter_features import query_features
    from models.augment import background_pool
    from models.train_adapter import train_adapter
    from models.transfer import build_embedder
    from render.backgrounds import load_panorama

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
            "features": features.to_json(), "feature_seconds_this_run": round(time.time() - began, 1),
            "lite0_index": str(lite0_index),
            "not_in_lite0_index": sorted(e.model_id for e in entries if e.model_id not in indexed)}
    kinds = [m.seat_kind for m in train_models]
    return train_adapter(queries, clean, kinds, view_cameras(settings.view_config()), out_dir, config, info,
                         progress)


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
