"""Mirror averaging of the viewpoint head on real photographs: what it changes in accuracy, and what it costs.

Run: PHOTO2CAD_DATA_DIR=$PWD/data .venv/bin/python -m bench.view_mirror [--photos data/realphotos]
     [--timing fc-chair-00000135,ikea-038] [--repeats 30]
Accuracy: the real-photo set answered through the service's path (evaluation.real_photo_report.photo_answerer:
tiled detector, the configured index and embedder, shipped calibration) by one Searcher with `mirror_views`
off, then on (index.view_prior, "Mirror averaging"); seat kind, view within 45 deg and flips, main seat and per
seat, per split. The default (on) was chosen on dev; test is reported. Cost: for the --timing photos (ids of
the set), index.scene.answer_seats (embedding and search of the detected seats, the part that changes)
timed with mirror_views on and off alternately, --repeats times each, the first 3 dropped; medians and their
ratio. Writes bench/results/view_mirror.json with the date, machine and load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from app import bootstrap
from app.settings import Settings
from bench.service_path import alternate_medians_ms
from evaluation.real_photo_eval import evaluate_answerer, headline
from evaluation.real_photo_report import photo_answerer
from evaluation.real_photo_set import load_manifest, missing_photos
from index.calibration import shipped_calibration
from index.collection import Collection
from index.scene import answer_seats
from index.search import Searcher
from models.photo import load_photo


def accuracy(searcher: Searcher, detector, photos, photos_dir: Path) -> dict:
    out = {}
    for mirror in (False, True):
        searcher.mirror_views = mirror
        result = evaluate_answerer(photo_answerer(searcher, detector), photos, photos_dir, boxes=True)
        out["on" if mirror else "off"] = headline(result)
    return out


def cost(searcher: Searcher, detector, files: list[Path], repeats: int) -> list[dict]:
    """Median answer_seats time (ms) per photo with mirror_views on and off, measured alternately."""
    rows = []
    for path in files:
        photo = load_photo(path.read_bytes())
        seats = detector.detect(photo.image)

        def answered(mirror: bool) -> None:
            searcher.mirror_views = mirror
            answer_seats(photo, seats, searcher, top_k=5)

        medians = alternate_medians_ms({m: (lambda m=m: answered(m)) for m in (True, False)}, repeats)
        on, off = medians[True], medians[False]
        rows.append({"photo": path.stem, "seats_answered": min(len(seats), 6), "off_ms": round(off, 1),
                     "on_ms": round(on, 1), "ratio": round(on / off, 2)})
    return rows


def run(photos_dir: Path, timing: list[Path], repeats: int) -> dict:
    settings = Settings()
    collection = Collection.open(settings.resolved_index_dir)
    embedder = bootstrap.load_embedder(settings)
    searcher = Searcher(collection, embedder, calibration=shipped_calibration(collection.manifest))
    if searcher.view_prior is None or searcher.view_prior.mirror is None:
        raise SystemExit(f"{settings.embedder} has no viewpoint head over a mirror-symmetric grid here")
    detector = bootstrap.load_detector(settings)
    photos = load_manifest()
    load_before = os.getloadavg()
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": settings.embedder,
            "machine": {"arch": platform.machine(), "cores": os.cpu_count(),
                        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                        "load_before": [round(x, 2) for x in load_before]},
            "photos": len(photos), "accuracy": accuracy(searcher, detector, photos, photos_dir),
            "cost": cost(searcher, detector, timing, repeats),
            "load_after": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path("data/realphotos"))
    parser.add_argument("--timing", default="fc-chair-00000135,ikea-038",
                        help="comma-separated photo ids of the set to time")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("bench/results/view_mirror.json"))
    args = parser.parse_args()
    if args.repeats < 4:
        parser.error("--repeats must be at least 4 (the first 3 are dropped)")
    photos = {p.id: p for p in load_manifest()}
    timing = [name for name in args.timing.split(",") if name]
    if not timing or any(name not in photos for name in timing):
        parser.error(f"--timing takes ids of the real-photo set (e.g. ikea-038), got {args.timing!r}")
    if (missing := missing_photos(list(photos.values()), args.photos)) is not None:
        parser.error(missing)
    report = run(args.photos, [args.photos / photos[name].file for name in timing], args.repeats)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for mode, rows in report["accuracy"].items():
        print(mode, rows)
    for row in report["cost"]:
        print(row)


if __name__ == "__main__":
    main()
