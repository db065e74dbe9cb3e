"""The commands that train on Lite0 features of photo-like renders: `photo2cad train-adapter` and `photo2cad index
derive-adapter` (the lite0_adapter embedder), `photo2cad train-finetune` (lite0_finetuned) and `photo2cad
fit-kind-head`."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from app.settings import Settings


def share(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def lite0_block(text: str) -> int:
    """argparse type: a Lite0 block index the top can start at (1..15; 0 would train the whole network)."""
    if not text.isdigit() or not 1 <= int(text) <= 15:
        raise argparse.ArgumentTypeError(f"must be a Lite0 block from 1 to 15, not {text!r}")
    return int(text)


def seed_list(text: str) -> tuple[int, ...]:
    """Distinct non-negative integers separated by commas, e.g. "0,1"."""
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,1, not {text!r}") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct non-negative seeds, not {text!r}")
    return seeds


def shape_manifest(text: str) -> Path:
    """argparse type: a readable shape-set manifest (models.training_data.shape_set_models), checked
    before any work starts."""
    from models.training_data import TrainingDataError, shape_set_models

    try:
        shape_set_models(Path(text))
    except TrainingDataError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text)


def fresh_output(out: Path, force: bool, trained: bool, what: str) -> bool:
    """Whether a training run into `out` should go ahead: not when it holds a trained `what` and force is
    off (said on stdout); with force, the folder is removed first."""
    if trained and not force:
        print(f"{out} already holds a trained {what} (--force to train again)")
        return False
    if force:
        shutil.rmtree(out, ignore_errors=True)
    return True


def add_train_parser(commands, at_least, positive_float) -> None:
    """Options left at None take the library defaults (not imported here: TensorFlow)."""
    train = commands.add_parser("train-adapter", help="train the lite0_adapter embedder on frozen Lite0 "
                                "features of randomised renders (resumable: run it again after an interruption)")
    train.add_argument("--out", type=Path, default=None, help="default data_dir/models/lite0_adapter")
    train.add_argument("--lite0-index", type=Path, default=None,
                       help="efficientnet_lite0 index holding the clean views; default data_dir/index/efficientnet_lite0")
    train.add_argument("--cache", type=Path, default=None,
                       help="feature cache folder; default data_dir/training/adapter_features")
    train.add_argument("--queries", type=at_least(1), help="randomised renders per model, default 64")
    train.add_argument("--render-size", type=at_least(32), help="render side in pixels, default 160")
    train.add_argument("--use-queries", type=at_least(1), default=None,
                       help="train on only the first N cached renders of each model (default: all)")
    train.add_argument("--materials", choices=("all", "random", "own"), default=None,
                       help="train on all renders (default), or only those with random part colours, or "
                            "only those with the models' own materials (an ablation)")
    train.add_argument("--epochs", type=at_least(1), help="default 40")
    train.add_argument("--max-minutes", type=positive_float, default=None,
                       help="stop after the epoch that crosses this training time")
    train.add_argument("--random-materials", type=share, default=None, metavar="SHARE",
                       help="share of each model's render groups given random part colours, default "
                            "0 (0.5 was measured to add flips on the real photos: EVALUATION.md)")
    train.add_argument("--plain", action="store_true",
                       help="no domain randomisation beyond the scratch CNN's (no random materials, "
                            "occlusion, motion blur, JPEG; narrower crops and white balance)")
    train.add_argument("--extra-shapes", type=shape_manifest, action="append", default=[], metavar="MANIFEST",
                       help="also train on a set of extra shapes (manifest.json, e.g. "
                            "training_shapes/infinigen/manifest.json); repeatable")
    train.add_argument("--extra-queries", type=at_least(1), default=24,
                       help="randomised renders per extra shape, default 24")
    train.add_argument("--seed", type=at_least(0), help="training seed, default 0")
    train.add_argument("--include-heldout", action="store_true",
                       help="also train on the models and panoramas `photo2cad evaluate` holds out")
    train.add_argument("--force", action="store_true", help="train again even if --out holds a model")
    train.set_defaults(handler=train_adapter_command, table_occlusion=None)


def add_finetune_parser(commands, at_least, positive_float) -> None:
    """Options left at None take models.finetune.FinetuneConfig's defaults."""
    tune = commands.add_parser("train-finetune", help="train the lite0_finetuned embedder: Lite0's top blocks "
                               "fine-tuned on randomised renders (resumable: run it again after an interruption)")
    tune.add_argument("--out", type=Path, default=None, help="default data_dir/models/lite0_finetuned")
    tune.add_argument("--lite0-index", type=Path, default=None,
                      help="efficientnet_lite0 index holding the clean views; default "
                           "data_dir/index/efficientnet_lite0")
    tune.add_argument("--cache", type=Path, default=None,
                      help="activation cache folder; default data_dir/training/finetune")
    tune.add_argument("--queries", type=at_least(1), default=32, help="randomised renders per model, default 32")
    tune.add_argument("--first-block", type=lite0_block, default=None,
                      help="the Lite0 block the trained top starts at, default 11 (of 16)")
    tune.add_argument("--epochs", type=at_least(1), default=None, help="default 8")
    tune.add_argument("--max-minutes", type=positive_float, default=None,
                      help="stop after the epoch that crosses this training time")
    tune.add_argument("--batch-size", type=at_least(2), default=None, help="default 64")
    tune.add_argument("--learning-rate", type=positive_float, default=None, help="default 5e-4")
    tune.add_argument("--extra-shapes", type=shape_manifest, action="append", default=[], metavar="MANIFEST",
                      help="also train on a set of extra shapes (manifest.json); repeatable")
    tune.add_argument("--extra-queries", type=at_least(1), default=24, help="renders per extra shape, default 24")
    tune.add_argument("--seed", type=at_least(0), default=None, help="training seed, default 0")
    tune.add_argument("--render-seeds", type=seed_list, default=(), metavar="S,S,...",
                      help="draw each model's randomised renders once per seed and train on all of them "
                           "(more distinct images, each seed cached on its own); default: the training seed")
    tune.add_argument("--table-occlusion", type=share, default=None, metavar="SHARE",
                      help="share of the randomised renders with a table in front, hiding the lower 0.3-0.7 "
                           "of the seat's height and all below it; default 0")
    tune.add_argument("--frozen-top", action="store_true",
                      help="control run: keep Lite0's top frozen, train only the embedding and heads")
    tune.add_argument("--include-heldout", action="store_true",
                      help="also train on the models and panoramas `photo2cad evaluate` holds out")
    tune.add_argument("--force", action="store_true", help="train again even if --out holds a network")
    tune.set_defaults(handler=train_finetune_command, render_size=None, random_materials=None, plain=False)


def train_finetune_command(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _training_holdouts
    from app.finetune import train_lite0_finetune
    from models.finetune import FinetuneConfig
    from models.train_adapter import is_trained

    out = args.out or settings.trained_finetuned_dir
    if not fresh_output(out, args.force, is_trained(out), "network"):
        return 0
    given = {"first_block": args.first_block, "epochs": args.epochs, "max_minutes": args.max_minutes,
             "batch_size": args.batch_size, "learning_rate": args.learning_rate, "seed": args.seed,
             "train_top": False if args.frozen_top else None}
    config = FinetuneConfig(**{k: v for k, v in given.items() if v is not None})
    skip = _training_holdouts(settings, args.include_heldout)
    manifest = train_lite0_finetune(
        settings, config, feature_config(args), out,
        args.lite0_index or settings.data_dir / "index" / "efficientnet_lite0",
        args.cache or settings.data_dir / "training" / "finetune", skip.models, skip.panoramas, skip.split_seed,
        extra_shapes=args.extra_shapes, extra_queries=args.extra_queries, render_seeds=args.render_seeds)
    print(f"trained {manifest['epochs_done']} epochs ({manifest['training_seconds']} s) on "
          f"{manifest['data']['models']} models ({manifest['data']['query_images']} query images, "
          f"{manifest['data']['clean_views']} clean views) into {out}; validation top-1: ImageNet Lite0 "
          f"{manifest['metrics']['val_backbone_only'].get('top1', float('nan')):.3f}, fine-tuned "
          f"{manifest['metrics']['val'].get('top1', float('nan')):.3f}")
    return 0


def add_kind_head_parser(commands, at_least, positive_float) -> None:
    fit = commands.add_parser("fit-kind-head", help="fit the Lite0 seat-kind head on Lite0 features of "
                              "photo-like renders (the train-adapter set; cached features are reused)")
    fit.add_argument("--out", type=Path, default=None,
                     help="default models/artifacts/kind_heads/efficientnet_lite0.npz (the shipped head)")
    fit.add_argument("--lite0-index", type=Path, default=None,
                     help="efficientnet_lite0 index; default data_dir/index/efficientnet_lite0")
    fit.add_argument("--cache", type=Path, default=None,
                     help="feature cache folder; default data_dir/training/adapter_features")
    fit.add_argument("--extra-shapes", type=shape_manifest, action="append", default=[], metavar="MANIFEST",
                     help="also fit on a set of extra shapes (manifest.json); repeatable")
    fit.add_argument("--extra-queries", type=at_least(1), default=24, help="renders per extra shape, default 24")
    fit.add_argument("--l2", type=positive_float, default=None, help="ridge strength, default 10")
    fit.add_argument("--include-heldout", action="store_true",
                     help="also fit on the models and panoramas `photo2cad evaluate` holds out")
    fit.set_defaults(handler=fit_kind_head_command, queries=None, render_size=None, seed=None,
                     random_materials=None, plain=False, table_occlusion=None)


def fit_kind_head_command(args: argparse.Namespace, settings: Settings) -> int:
    from app.cli import _training_holdouts
    from app.kind_head import L2, fit_lite0_kind_head
    from models.kind_head import SHIPPED_DIR

    out = args.out or SHIPPED_DIR / "efficientnet_lite0.npz"
    skip = _training_holdouts(settings, args.include_heldout)
    head = fit_lite0_kind_head(settings, feature_config(args),
                               args.lite0_index or settings.data_dir / "index" / "efficientnet_lite0",
                               args.cache or settings.data_dir / "training" / "adapter_features", skip.models,
                               skip.panoramas, skip.split_seed, args.extra_shapes, args.extra_queries,
                               args.l2 or L2)
    head.save(out)
    data = head.manifest["data"]
    print(f"seat-kind head for {head.embedder['name']} on {data['models']} models ({data['queries']} photo-like "
          f"renders; kinds {', '.join(head.kinds)}) -> {out}")
    return 0


def add_derive_parser(commands) -> None:
    derive = commands.add_parser("derive-adapter", help="make the lite0_adapter index from an "
                                 "efficientnet_lite0 index (no rendering): into the configured index folder")
    derive.add_argument("--from", dest="source", type=Path, default=None,
                        help="default data_dir/index/efficientnet_lite0")
    derive.set_defaults(handler=derive_command)


def feature_config(args: argparse.Namespace):
    """The FeatureConfig the options ask for: randomised by default (RANDOMISED), else the plain set."""
    from models.adapter_features import FeatureConfig
    from models.augment import AugmentConfig

    given = {"queries": args.queries, "render_size_px": args.render_size, "seed": args.seed,
             "p_random_materials": args.random_materials}
    given = {k: v for k, v in given.items() if v is not None}
    augment = {} if args.plain else RANDOMISED | ({"p_table": args.table_occlusion} if args.table_occlusion else {})
    return FeatureConfig(augment=AugmentConfig(**augment), **({"p_random_materials": 0.0} | given))


# Domain randomisation past the scratch CNN's augmentation (models.augment.AugmentConfig fields).
RANDOMISED = {"scale": (0.8, 1.4), "shift": 0.12, "channel_gain": (0.75, 1.25), "p_occlusion": 0.3,
              "p_motion_blur": 0.2, "p_jpeg": 0.5, "noise_std": (0.0, 8.0)}


def train_adapter_command(args: argparse.Namespace, settings: Settings) -> int:
    from app.adapter import train_lite0_adapter
    from models.train_adapter import AdapterTrainConfig, is_trained

    out = args.out or settings.trained_adapter_dir
    if not fresh_output(out, args.force, is_trained(out), "adapter"):
        return 0
    given = {"epochs": args.epochs, "seed": args.seed, "max_minutes": args.max_minutes,
             "queries_per_model": args.use_queries, "materials": args.materials}
    config = AdapterTrainConfig(**{k: v for k, v in given.items() if v is not None})
    from app.cli import _training_holdouts

    skip = _training_holdouts(settings, args.include_heldout)
    manifest = train_lite0_adapter(
        settings, config, feature_config(args), out,
        args.lite0_index or settings.data_dir / "index" / "efficientnet_lite0",
        args.cache or settings.data_dir / "training" / "adapter_features", skip.models, skip.panoramas,
        skip.split_seed, extra_shapes=args.extra_shapes, extra_queries=args.extra_queries)
    print(f"trained {manifest['epochs_done']} epochs ({manifest['training_seconds']} s) on "
          f"{manifest['data']['models']} models ({manifest['data']['query_images']} query images, "
          f"{manifest['data']['clean_views']} clean views) into {out}; validation top-1: backbone only "
          f"{manifest['metrics']['val_backbone_only'].get('top1', float('nan')):.3f}, adapter "
          f"{manifest['metrics']['val'].get('top1', float('nan')):.3f}")
    return 0


def derive_command(args: argparse.Namespace, settings: Settings) -> int:
    from app.adapter import derive_adapter_index, load_adapter_embedder
    from app.bootstrap import versions

    source = args.source or settings.data_dir / "index" / "efficientnet_lite0"
    embedder = load_adapter_embedder(settings)
    collection = derive_adapter_index(source, settings.resolved_index_dir, embedder, settings.faiss_factory,
                                      versions())
    print(json.dumps(collection.manifest["counts"]))
    collection.close()
    return 0
