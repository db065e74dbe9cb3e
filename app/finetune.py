"""Fine-tuning Lite0's top blocks on the default catalogue (models.finetune), as the CLI runs it: the training
models and panoramas of `photo2cad train-adapter` (the evaluation's held-out ones left out), randomised
renders and the `efficientnet_lite0` index's stored views as cached trunk activations.

    python -m app.finetune --out data/models/lite0_finetune --cache data/training/finetune [--queries 32]
        [--first-block 11] [--epochs 8] [--max-minutes 30]

Run it again after an interruption: cached activations and the last finished epoch are kept.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from app.adapter import BACKGROUND_POOL, _indexed_models
from app.cli import _training_holdouts
from app.cli_adapter import feature_config
from app.scratch import _training_model
from app.settings import Settings
from index.build import view_cameras
from index.collection import Collection


def train_lite0_finetune(settings: Settings, config, features, out_dir: Path, lite0_index: Path, cache_dir: Path,
                         heldout_models: list[str], heldout_panoramas: list[str], split_seed: int | None,
                         progress: bool = True) -> dict:
    """Train models.finetune's network (config: FinetuneConfig; features: adapter_features.FeatureConfig)
    into out_dir on the catalogue models of lite0_index but the held-out ones, over crops of the panoramas
    but the held-out ones; activations cached in cache_dir/{queries,clean}. Returns the manifest."""
    from app.bootstrap import ensure_catalogue, hdri_dir
    from models.adapter_features import query_features
    from models.augment import background_pool
    from models.finetune import clean_activations, lite0_parts, train_finetune
    from models.weights import prepare_weights
    from render.backgrounds import load_panorama

    indexed = _indexed_models(lite0_index)
    entries = [e for e in ensure_catalogue(settings) if e.model_id not in heldout_models]
    train_models = [_training_model(e) for e in entries if e.model_id in indexed]
    panorama_files = [p for p in sorted(hdri_dir(settings).glob("*.exr")) if p.name not in heldout_panoramas]
    weights = prepare_weights("efficientnet_lite0", settings.weights_dir, progress=False)
    trunk, top = lite0_parts(weights, config.first_block, features.input_size_px)
    pool = background_pool([load_panorama(p) for p in panorama_files], features.input_size_px,
                           BACKGROUND_POOL, features.seed)
    began = time.time()
    queries = query_features(train_models, trunk, pool, features, cache_dir / "queries", settings.render_workers,
                             progress, normalise=False)
    collection = Collection.open(lite0_index)
    try:
        table, grid = collection.store.view_table(), view_cameras(collection.view_config)
    finally:
        collection.close()
    clean = clean_activations(lite0_index, table, trunk, cache_dir / "clean", progress)
    info = {"catalogue": str(settings.catalogue_dir), "heldout_models_excluded": heldout_models,
            "heldout_panoramas_excluded": heldout_panoramas, "split_seed": split_seed,
            "panoramas": [p.name for p in panorama_files], "features": features.to_json(),
            "lite0_index": str(lite0_index), "lite0_weights": str(weights),
            "trunk_activation_shape": list(trunk.shape), "activation_dtype": "float16",
            "not_in_lite0_index": sorted(e.model_id for e in entries if e.model_id not in indexed),
            "cache_seconds_this_run": round(time.time() - began, 1)}
    return train_finetune(queries, clean.for_models(queries.model_ids), [m.seat_kind for m in train_models], grid,
                          top, out_dir, config, info, progress)


def main(argv: list[str] | None = None) -> int:
    from models.finetune import FinetuneConfig

    args = _parser().parse_args(argv)
    settings = Settings()
    given = {"first_block": args.first_block, "epochs": args.epochs, "max_minutes": args.max_minutes,
             "batch_size": args.batch_size, "learning_rate": args.learning_rate, "seed": args.seed,
             "train_top": False if args.frozen_top else None}
    config = FinetuneConfig(**{k: v for k, v in given.items() if v is not None})
    features = feature_config(argparse.Namespace(queries=args.queries, render_size=None, seed=args.seed,
                                                 random_materials=None, plain=False))
    skip = _training_holdouts(settings, False)
    manifest = train_lite0_finetune(settings, config, features, args.out,
                                    args.lite0_index or settings.data_dir / "index" / "efficientnet_lite0",
                                    args.cache, skip.models, skip.panoramas, skip.split_seed)
    print(json.dumps({"epochs_done": manifest["epochs_done"], "training_seconds": manifest["training_seconds"],
                      "data": {k: manifest["data"][k] for k in ("models", "query_images", "clean_views")},
                      "val_backbone_only": manifest["metrics"]["val_backbone_only"],
                      "val": manifest["metrics"]["val"]}))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder of the trained network")
    parser.add_argument("--cache", type=Path, required=True, help="folder of cached trunk activations")
    parser.add_argument("--lite0-index", type=Path, default=None, help="default data_dir/index/efficientnet_lite0")
    parser.add_argument("--queries", type=int, default=32, help="randomised renders per model")
    parser.add_argument("--first-block", type=int, default=None, help="Lite0 block the trained top starts at (11)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--max-minutes", type=float, default=None, help="stop after the epoch crossing this")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--frozen-top", action="store_true",
                        help="control run: keep Lite0's top frozen, train only the embedding and heads")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
