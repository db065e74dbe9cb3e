"""How much of the photo around each detected seat is searched: the crop margin (index.scene.CROP_MARGIN).

Run: PHOTO2CAD_DATA_DIR=$PWD/data .venv/bin/python -m bench.crop_margin [--photos data/realphotos]
     [--margins 0.05,0.1,0.16,0.24,0.32] [--out bench/results/crop_margin.json]
The service searches each detected seat as the square around its box, the box's longer side plus `margin` of
it on each side (index.scene.square_crop). Every margin answers the real-photo set through the service's path
(evaluation.real_photo_report.photo_answerer: tiled detector, configured index and embedder, shipped
calibration, pose options, seat-kind temperature); only the crop changes. Figures: main seat kind, view within
45 deg and flips, per-seat kind, view and flips, per split (evaluation.real_photo_eval.headline). Choices are
made on dev; test reports. Writes the results with date, machine and load.
"""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path

from bench.service_path import machine, number_list, real_photo_parser, require_photos, service_path
from evaluation.real_photo_eval import evaluate_answerer, headline
from evaluation.real_photo_report import photo_answerer
from evaluation.real_photo_set import load_manifest
from index import scene

KEYS = ("kind", "view_45", "flips", "seat_kind", "seat_view_45", "seat_flips")


def run(photos_dir: Path, margins: list[float]) -> dict:
    parts = service_path()
    searcher, detector, photos, facts = parts.searcher(), parts.detector, load_manifest(), machine()
    shipped, results = scene.square_crop, {}
    try:
        for margin in margins:
            scene.square_crop = functools.partial(shipped, margin=margin)
            figures = headline(evaluate_answerer(photo_answerer(searcher, detector), photos, photos_dir, boxes=True))
            results[f"{margin:g}"] = {split: {k: figures[split][k] for k in KEYS} for split in ("dev", "test", "all")}
            print(margin, results[f"{margin:g}"], flush=True)
    finally:
        scene.square_crop = shipped
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": parts.embedder.info.name,
            "shipped_margin": scene.CROP_MARGIN, "machine": facts,
            "photos": len(photos), "results": results, "load_after": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = real_photo_parser(__doc__, "bench/results/crop_margin.json")
    parser.add_argument("--margins", default="0.05,0.1,0.16,0.24,0.32")
    args = parser.parse_args()
    margins = number_list(parser, "--margins", args.margins, lambda m: 0 <= m <= 1, "in [0, 1]")
    require_photos(parser, args.photos)
    args.out.write_text(json.dumps(run(args.photos, margins), indent=1) + "\n")


if __name__ == "__main__":
    main()
