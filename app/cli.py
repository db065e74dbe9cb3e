"""The `photo2cad` command: setup, index build/add/remove/list/stats, search, serve, train, train-adapter,
train-finetune, fit-kind-head, evaluate, calibrate."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from app import cli_adapter
from app.settings import Settings, get_settings

# Share of calibration queries answered with their own model left out (evaluation.calibration): real
# photographs are nearly all of seats the catalogue lacks (EVALUATION.md, "Error bars on real photographs").
UNSEEN_SHARE = 0.5


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code. Domain errors print one line and exit 2."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args, get_settings()) or 0)
    except KeyboardInterrupt:
        print("photo2cad: interrupted; work finished so far is kept, run the command again to resume",
              file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        print(f"photo2cad: error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="photo2cad", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    setup = commands.add_parser("setup", help="fetch the default catalogue, HDRIs and weights")
    setup.set_defaults(handler=_setup)

    serve = commands.add_parser("serve", help="run the web service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--build-if-missing", action="store_true",
                       help="set up and build the default index first if there is none")
    serve.set_defaults(handler=_serve)

    search = commands.add_parser("search", help="search the index with a photo, print JSON")
    search.add_argument("image", type=Path)
    search.add_argument("--top-k", type=int, default=5)
    search.set_defaults(handler=_search)

    _index_parser(commands.add_parser("index", help="build and edit the index"))
    _train_parser(commands.add_parser("train", help="train the from-scratch CNN on the default catalogue "
                                      "(resumable: run it again after an interruption)"))
    cli_adapter.add_train_parser(commands, _at_least, _positive_float)
    cli_adapter.add_finetune_parser(commands, _at_least, _positive_float)
    cli_adapter.add_kind_head_parser(commands, _at_least, _positive_float)
    _evaluate_parser(commands.add_parser("evaluate", help="measure retrieval and pose accuracy"))
    calibrate = commands.add_parser("calibrate", help="fit the pose error bars (expected_error_deg) on "
                                    "held-out renders no test set uses")
    calibrate.add_argument("--queries", type=_at_least(20), default=360)
    calibrate.add_argument("--seed", type=int, default=20261202, help="seed of the calibration queries")
    calibrate.add_argument("--evaluation-seed", type=int, default=0,
                           help="the evaluation's seed: its held-out models and test panoramas are avoided")
    calibrate.add_argument("--out", type=Path, default=None,
                           help="artefact path (default: PHOTO2CAD_POSE_CALIBRATION or the shipped one)")
    calibrate.add_argument("--unseen-share", type=cli_adapter.share, default=UNSEEN_SHARE,
                           help="share of queries answered with their own model left out, as for a seat the "
                                f"catalogue lacks (default {UNSEEN_SHARE})")
    calibrate.set_defaults(handler=_calibrate)
    return parser


def _calibrate(args: argparse.Namespace, settings: Settings) -> None:
    from app import bootstrap
    from evaluation.calibration import run_calibration
    from index.collection import Collection
    from index.search import Searcher
    from index.symmetry import fill_symmetries

    collection = Collection.open(settings.resolved_index_dir)
    searcher = Searcher(collection, bootstrap.load_embedder(settings))  # uncalibrated
    fill_symmetries(collection.store, searcher.symmetries)
    catalogue_ids = [e.model_id for e in bootstrap.ensure_catalogue(settings)]  # as the evaluation draws
    calibration, _ = run_calibration(searcher, bootstrap.hdri_dir(settings), args.queries, args.seed,
                                     args.evaluation_seed, settings.render_workers, catalogue_ids,
                                     args.unseen_share)
    out = args.out or settings.pose_calibration_path
    calibration.save(out)
    print(f"wrote {out}: {json.dumps(calibration.manifest['fit'])}")


def _index_parser(index: argparse.ArgumentParser) -> None:
    commands = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    build = commands.add_parser("build", help="render and embed the default catalogue (resumable)")
    build.add_argument("--limit", type=int, default=None, help="index only the first N models")
    _ray_option(build)
    build.set_defaults(handler=_index_build)

    add = commands.add_parser("add", help="add CAD files and folders (OBJ, GLB/glTF, STL, PLY, OFF, "
                              "Sweet Home 3D .sh3f libraries); unchanged files are skipped (resumable)")
    add.add_argument("paths", nargs="+", type=Path, metavar="PATH_OR_DIR", help="files, or folders to walk")
    add.add_argument("--id", dest="model_id", help="model id (one file only); default: see --id-from")
    add.add_argument("--id-from", choices=("name", "path"), default="name",
                     help="ids from the file name, or from the path below the folder given (use it when "
                          "two files share a name)")
    add.add_argument("--name", help="display name; default: the file name")
    add.add_argument("--category", help="seat kind, e.g. chair, armchair, sofa, stool, bench; .sh3f "
                                        "default: the catalogue rule, non-seats skipped")
    add.add_argument("--workers", type=int, default=None, help="render processes (default: settings)")
    add.add_argument("--licence")
    add.add_argument("--creator")
    _ray_option(add)
    add.set_defaults(handler=_index_add)

    remove = commands.add_parser("remove", help="remove models by id")
    remove.add_argument("model_ids", nargs="+")
    remove.set_defaults(handler=_index_remove)

    cli_adapter.add_derive_parser(commands)
    commands.add_parser("list", help="list indexed models").set_defaults(handler=_index_list)
    stats = commands.add_parser("stats", help="index statistics")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.set_defaults(handler=_index_stats)


def _ray_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--ray", metavar="ADDRESS", default=None,
                         help="render and embed on a Ray cluster: auto (started here with `ray start`), "
                              "HOST:PORT, ray://HOST:10001, or local (start one on this machine); needs "
                              "`pip install ray`, and every node must see the weights at the same path")


def _setup(args: argparse.Namespace, settings: Settings) -> None:
    from app import bootstrap

    bootstrap.ensure_assets(settings)


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    from app import bootstrap
    from app.main import create_app

    if args.build_if_missing:
        bootstrap.ensure_index(settings)
    bootstrap.require_index(settings)
    # access_log off: the app writes one JSON line per request itself (app/requestlog.py). uvloop and
    # httptools (uvicorn[standard]) named rather than "auto", which would fall back to the slower pure-Python
    # asyncio loop and h11 parser without a word if they went missing.
    uvicorn.run(create_app(settings), host=args.host, port=args.port, access_log=False, loop="uvloop",
                http="httptools")


def _search(args: argparse.Namespace, settings: Settings) -> None:
    from models.photo import load_photo

    photo = load_photo(args.image.read_bytes(), settings.photo_max_side_px, settings.max_image_pixels,
                       settings.max_image_aspect)  # a bad image is refused before TensorFlow loads
    from app.bootstrap import load_detector
    from app.deps import load_services
    from app.presenters import search_response
    from index.scene import answer_photo

    services = load_services(settings)
    answer = answer_photo(photo, load_detector(settings), services.searcher, args.top_k)
    print(json.dumps(search_response(answer.answer, answer).model_dump(), indent=2))


def _index_build(args: argparse.Namespace, settings: Settings) -> int:
    from app import bootstrap

    report = bootstrap.ensure_index(settings, limit=args.limit, ray_address=args.ray)
    return _print_report(report)


def _index_add(args: argparse.Namespace, settings: Settings) -> int:
    from app import bootstrap

    if args.model_id and len(args.paths) > 1:
        raise ValueError("--id names one model: give a single file with it")
    report = bootstrap.add_files(settings, args.paths, model_id=args.model_id, name=args.name,
                                 seat_kind=args.category, licence=args.licence, creator=args.creator,
                                 id_from=args.id_from, workers=args.workers, ray_address=args.ray)
    return _print_report(report)


def _print_report(report) -> int:
    for model_id, reason in report.failed:
        print(f"failed: {model_id}: {reason}", file=sys.stderr)
    print(report.summary())
    nothing_indexed = report.failed and not (report.added or report.updated or report.skipped
                                             or report.relabelled)
    return 1 if nothing_indexed else 0


def _index_remove(args: argparse.Namespace, settings: Settings) -> None:
    from app import bootstrap

    removed = bootstrap.remove(settings, args.model_ids)
    print(f"removed {len(args.model_ids)} models ({removed} views)")


def _index_list(args: argparse.Namespace, settings: Settings) -> None:
    from index.collection import Collection

    collection = Collection.open(settings.resolved_index_dir)
    counts = collection.store.view_counts()
    for record in collection.store.list_models():
        print(f"{record.model_id}\t{record.seat_kind or '-'}\t{counts.get(record.model_id, 0)} views\t"
              f"{record.name}")


def _index_stats(args: argparse.Namespace, settings: Settings) -> None:
    from index.collection import Collection

    collection = Collection.open(settings.resolved_index_dir)
    stats = collection.stats()
    collection.close()
    if args.json:
        stats["seat_kinds"] = {str(kind): list(n) for kind, n in stats["seat_kinds"].items()}
        print(json.dumps(stats, indent=2, default=str))
        return
    print(_stats_text(stats))


def _stats_text(stats: dict) -> str:
    embedder, views, size = stats["embedder"], stats["views_config"], stats["bytes"]
    lines = [f"index      {stats['path']}",
             f"models     {stats['models']} ({stats['views']} views; vectors in FAISS: {stats['vectors']})",
             (f"embedder   {embedder['name']}/{embedder['layer']}, {stats['dim']}-d, "
              f"input {embedder['input_size_px']} px"),
             f"faiss      {stats['faiss_factory']}",
             (f"views      {views['sampling']} {views['count']}, {views['size_px']} px, polar "
              f"{views['polar_min_deg']:g}-{views['polar_max_deg']:g} deg; per model: "
              f"{', '.join(map(str, stats['views_per_model'])) or '-'}"),
             "on disk    " + ", ".join(f"{k} {_megabytes(v)}" for k, v in size.items())
             + f" (total {_megabytes(sum(size.values()))})",
             "seat kind  models  views"]
    for kind, (models, n_views) in sorted(stats["seat_kinds"].items(), key=lambda kv: -kv[1][0]):
        lines.append(f"  {kind or '(none)':<9}{models:>6}{n_views:>7}")
    return "\n".join(lines)


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


def _train_parser(train: argparse.ArgumentParser) -> None:
    """Options left at None take models.train.TrainConfig's defaults (not imported here: TensorFlow)."""
    train.add_argument("--out", type=Path, default=None,
                       help="model folder (default: data_dir/models/scratch_cnn)")
    train.add_argument("--epochs", type=_at_least(1), help="default 10")
    train.add_argument("--size", type=_at_least(32), help="input side in pixels (>= 32), default 96")
    train.add_argument("--batch-size", type=_at_least(1), help="default 64")
    train.add_argument("--variants", type=_at_least(1), help="renders of each view, each under its own "
                                                            "random lighting; default 2")
    train.add_argument("--max-minutes", type=_positive_float, default=None,
                       help="stop after the epoch that crosses this training time")
    train.add_argument("--seed", type=_at_least(0), help="training seed, default 0")
    train.add_argument("--include-heldout", action="store_true",
                       help="also train on the models and panoramas `photo2cad evaluate` holds out")
    train.add_argument("--force", action="store_true", help="train again even if --out holds a model")
    train.add_argument("--extra-shapes", type=cli_adapter.shape_manifest, action="append", default=[],
                       metavar="MANIFEST",
                       help="also train on the shapes a manifest.json lists, e.g. "
                            "training_shapes/infinigen/manifest.json (repeatable)")
    train.set_defaults(handler=_train)


def _at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from app.scratch import train_scratch
    from models.train import TrainConfig, is_trained

    out = args.out or settings.trained_scratch_dir
    if not cli_adapter.fresh_output(out, args.force, is_trained(out), "model"):
        return 0
    given = {"input_size_px": args.size, "epochs": args.epochs, "batch_size": args.batch_size,
             "variants": args.variants, "seed": args.seed, "max_minutes": args.max_minutes}
    config = TrainConfig(**{k: v for k, v in given.items() if v is not None})
    if args.size:
        config.render_size_px = round(args.size * 7 / 6)
    skip = _training_holdouts(settings, args.include_heldout)
    manifest = train_scratch(settings, config, out, skip.models, skip.panoramas, skip.split_seed,
                             extra_shapes=args.extra_shapes)
    val = manifest["metrics"]["val"]
    print(f"trained {manifest['epochs_done']} epochs on {manifest['data']['models']} models "
          f"({manifest['data']['training_images']} images) into {out}; validation (off-grid views, photo "
          f"backgrounds): model {val['model_accuracy']:.3f}, seat kind {val['kind_accuracy']:.3f}, view head "
          f"mean error {val['view_head_mean_error_deg']:.1f} deg")
    return 0


def _training_holdouts(settings: Settings, include_heldout: bool):
    """What `photo2cad evaluate` holds out (drawn from the catalogue's ids, as the evaluation draws them)."""
    from app.bootstrap import ensure_catalogue, hdri_dir
    from evaluation.plan import training_holdouts

    return training_holdouts([e.model_id for e in ensure_catalogue(settings)],
                             [p.name for p in hdri_dir(settings).glob("*.exr")], include_heldout=include_heldout)


def _evaluate_parser(evaluate: argparse.ArgumentParser) -> None:
    evaluate.add_argument("--embedders", default="efficientnet_lite0,scratch_cnn,inception_v3",
                          help="comma-separated; the configured one uses its index, others an index in "
                               "data_dir/index/<name> or, if missing, one built at icosphere --level "
                               "(scratch_cnn: at the configured level, the grid it was trained on)")
    evaluate.add_argument("--queries", type=int, default=50, help="queries per test set")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--out", type=Path, default=Path("EVALUATION.md"))
    evaluate.add_argument("--artefacts", type=Path, default=Path("docs"),
                          help="folder for the split, per-query JSON and plots")
    evaluate.add_argument("--level", type=int, default=1,
                          help="icosphere level of indexes built for the evaluation; the configured index "
                               "is also evaluated on a copy reduced to this level (like for like)")
    evaluate.add_argument("--no-random-baseline", dest="random_baseline", action="store_false",
                          help="skip random-init Lite0 (needs its own index at --level)")
    evaluate.add_argument("--refine", action="store_true",
                          help="also measure render-and-compare pose refinement (on each embedder's own "
                               "index; not on the level copies and baselines)")
    evaluate.add_argument("--no-objectron", dest="objectron", action="store_false",
                          help="skip the Objectron outside baseline (needs npm once, to fetch its model)")
    evaluate.add_argument("--sets", default="synthetic,real",
                          help="comma-separated: synthetic (renders, photo-like, held-out models), real (the "
                               "real-photo set, section spliced into --out)")
    evaluate.add_argument("--real-photos", type=Path, default=None,
                          help="folder of the extracted real photos (default data_dir/realphotos; see "
                               "python -m evaluation.real_photo_set)")
    evaluate.add_argument("--no-detector", dest="detector", action="store_false",
                          help="real photos: whole-image answers only")
    evaluate.set_defaults(handler=_evaluate)


def _evaluate(args: argparse.Namespace, settings: Settings) -> None:
    from app import bootstrap
    from app.deps import search_options
    from evaluation.plan import objectron_baseline, plan_targets
    from evaluation.report import run_evaluation

    sets = set(filter(None, args.sets.split(",")))
    if not sets or sets - {"synthetic", "real"}:
        raise ValueError(f"--sets takes synthetic and/or real, got {args.sets!r}")
    targets = plan_targets(list(filter(None, args.embedders.split(","))), args.level, _Indexes(settings),
                           args.random_baseline, args.refine)
    if "synthetic" in sets:
        baselines = {}
        if args.objectron:
            baselines["Objectron chair (MediaPipe), outside baseline"] = objectron_baseline(settings.weights_dir)
        catalogue_ids = [e.model_id for e in bootstrap.ensure_catalogue(settings)]
        results = run_evaluation(targets, args.queries, args.seed, bootstrap.hdri_dir(settings), args.out,
                                 args.artefacts, workers=settings.render_workers, baselines=baselines,
                                 catalogue_ids=catalogue_ids, search=search_options(settings))
        for label, target in results["targets"].items():
            summary = {name: {k: round(s[k], 3) for k in ("top1", "top5", "seat_kind")}
                       | {"mean_err_deg": round(s["pose"]["mean_deg"], 2)} for name, s in target["sets"].items()}
            print(label, json.dumps(summary))
    if "real" in sets:
        _evaluate_real_photos(args, settings, targets, required=sets == {"real"})
    print(f"wrote {args.out} and {args.artefacts}/evaluation_*")


def _evaluate_real_photos(args: argparse.Namespace, settings: Settings, targets: list, required: bool) -> None:
    """The real-photo section; when the photos were never extracted it is skipped with a warning, unless
    it was asked for alone (--sets real)."""
    from app.deps import search_options
    from evaluation.real_photo_report import run_real_photo_section
    from evaluation.real_photo_set import load_manifest

    photos, images_dir = load_manifest(), args.real_photos or settings.data_dir / "realphotos"
    if not required and not any((images_dir / p.file).exists() for p in photos):
        print(f"real photos: none in {images_dir}, section skipped (python -m evaluation.real_photo_set "
              f"extract --out {images_dir})", file=sys.stderr)
        return
    detector = _detector(settings) if args.detector else None
    results = run_real_photo_section(targets, photos, images_dir, args.out, args.artefacts, detector,
                                     search_options(settings))
    for label, modes in results["targets"].items():
        for mode, result in modes.items():
            main, seats = result["all"]["main"], result["all"]["seats"]
            print(f"real photos | {label} | {mode}: kind {main['kind']:.2f}, view<=45 {main['view']['within_45']:.2f}, "
                  f"flips {main['view']['flips']:.2f}, recall {seats['recall']:.2f}")


def _detector(settings: Settings):
    """The seat detector (None when PHOTO2CAD_DETECTOR is off: whole-image answers only)."""
    from app.bootstrap import load_detector

    return load_detector(settings)


class _Indexes:
    """evaluation.plan.IndexSource over the settings: opens, builds or finishes the indexes compared."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.configured_name = settings, settings.embedder
        self.copies_dir = settings.data_dir / "index"

    def configured(self):
        from app import bootstrap
        from index.collection import Collection

        bootstrap.require_index(self.settings)
        return Collection.open(self.settings.resolved_index_dir), bootstrap.load_embedder(self.settings)

    def own(self, name: str, level: int):
        """Another embedder's index in data_dir/index/<name>, else one built at `level` (scratch_cnn:
        at the configured level, the grid it was trained on)."""
        from app import bootstrap
        from models.scratch import NAME as SCRATCH

        own = self.settings.model_copy(update={"embedder": name, "embedder_layer": None,
                                               "index_dir": self.copies_dir / name})
        if name != SCRATCH and not (own.resolved_index_dir / "manifest.json").exists():
            own = own.model_copy(update={"view_count": level, "index_dir": self.copies_dir / f"{name}_l{level}"})
        embedder = bootstrap.load_embedder(own)
        if name == SCRATCH:
            _drop_stale_index(own.resolved_index_dir, embedder.info.weights)
        return self._ensure(own, embedder)

    def random_init(self, level: int):
        from models.transfer import build_embedder

        own = self.settings.model_copy(update={"embedder": "efficientnet_lite0", "view_count": level,
                                               "index_dir": self.copies_dir / f"efficientnet_lite0_random_l{level}"})
        return self._ensure(own, build_embedder("efficientnet_lite0", own.weights_dir, weights="random"))

    @staticmethod
    def _ensure(own: Settings, embedder):
        from app import bootstrap
        from index.collection import Collection

        bootstrap.ensure_index(own, embedder=embedder)  # builds, finishes an interrupted build, or checks
        return Collection.open(own.resolved_index_dir), embedder


def _drop_stale_index(index_dir: Path, weights: str) -> None:
    """A scratch_cnn index is derived data: after retraining, its vectors belong to old weights."""
    import shutil

    from index.collection import Collection

    manifest = index_dir / "manifest.json"
    if manifest.exists() and Collection.open_manifest_embedder(manifest).weights != weights:
        print(f"{index_dir} was built with other scratch_cnn weights: rebuilding it")
        shutil.rmtree(index_dir)


if __name__ == "__main__":
    sys.exit(main())
