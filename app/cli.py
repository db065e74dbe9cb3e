"""The `photo2cad` command: setup, index build/add/remove/list/stats, search, serve."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from app.settings import Settings, get_settings


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code. Domain errors print one line and exit 2."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    try:
        return int(args.handler(args, settings) or 0)
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
    return parser


def _index_parser(index: argparse.ArgumentParser) -> None:
    commands = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    build = commands.add_parser("build", help="render and embed the default catalogue (resumable)")
    build.add_argument("--limit", type=int, default=None, help="index only the first N models")
    build.set_defaults(handler=_index_build)

    add = commands.add_parser("add", help="add CAD files (OBJ, GLB/glTF, STL, PLY, OFF)")
    add.add_argument("paths", nargs="+", type=Path)
    add.add_argument("--id", dest="model_id", help="model id (one file only); default: the file name")
    add.add_argument("--name", help="display name; default: the file name")
    add.add_argument("--category", help="seat kind, e.g. chair, armchair, sofa, stool, bench")
    add.add_argument("--licence")
    add.add_argument("--creator")
    add.set_defaults(handler=_index_add)

    remove = commands.add_parser("remove", help="remove models by id")
    remove.add_argument("model_ids", nargs="+")
    remove.set_defaults(handler=_index_remove)

    commands.add_parser("list", help="list indexed models").set_defaults(handler=_index_list)
    commands.add_parser("stats", help="index statistics").set_defaults(handler=_index_stats)


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
    uvicorn.run(create_app(settings), host=args.host, port=args.port)


def _search(args: argparse.Namespace, settings: Settings) -> None:
    from app.deps import load_services
    from app.presenters import search_response
    from models.images import decode_image, square_pad

    services = load_services(settings)
    image = square_pad(decode_image(args.image.read_bytes(), settings.max_image_pixels))
    answer = services.searcher.search(image, args.top_k)
    print(json.dumps(search_response(answer).model_dump(), indent=2))


def _index_build(args: argparse.Namespace, settings: Settings) -> int:
    from app import bootstrap

    report = bootstrap.ensure_index(settings, limit=args.limit)
    return _print_report(report)


def _index_add(args: argparse.Namespace, settings: Settings) -> int:
    from app import bootstrap

    if args.model_id and len(args.paths) > 1:
        raise ValueError("--id names one model: give a single file with it")
    report = bootstrap.add_files(settings, args.paths, model_id=args.model_id, name=args.name,
                                 seat_kind=args.category, licence=args.licence, creator=args.creator)
    return _print_report(report)


def _print_report(report) -> int:
    for model_id, reason in report.failed:
        print(f"failed: {model_id}: {reason}", file=sys.stderr)
    print(report.summary())
    nothing_indexed = report.failed and not (report.added or report.updated or report.skipped)
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
    stats = {"path": str(collection.root), "vectors": collection.vectors.ntotal, **collection.manifest}
    print(json.dumps(stats, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
