"""Fit the seat-kind temperature (index.kind_calibration) on the real photos' dev split; report dev and test.

Run: PHOTO2CAD_DATA_DIR=$PWD/data .venv/bin/python -m bench.kind_temperature [--photos data/realphotos]
     [--out bench/results/kind_temperature.json]
The real-photo set is answered through the service's path (index.scene.answer_photo: tiled detector, the
configured index, embedder and pose options) with the temperature at 1; every detected seat matched to a
label (evaluation.real_photo_eval.match_seats) keeps its whole seat-kind distribution. The temperature is the
one of least mean Brier score (squared error of the whole distribution against the labelled kind) over the dev
split's seats, on a grid of 1 to 4 by 0.1. Brier, not the negative log-likelihood: a few answers give the
labelled kind almost no probability (the detector-label table and a confident vote are near-hard), and the
log-likelihood's optimum then softens every answer until they understate how often they are right. Reported
per split, at temperature 1, at the fitted one and at the shipped one
(index.kind_calibration.KIND_TEMPERATURES): seats, accuracy, mean stated probability of the answered kind, ECE
(evaluation.real_photo_eval.kind_probability_summary), negative log-likelihood, Brier score, and the answers
stated at 0.9 or more with how often they are right. The same for whole-image answers (no detector: the photo
searched as one seat, scored against its main seat's label; index.kind_calibration.WHOLE_IMAGE_KIND_TEMPERATURES).
Writes the results with date, machine and load.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from app import bootstrap
from app.deps import search_options
from app.settings import Settings
from bench.service_path import real_photo_parser, require_photos
from evaluation.real_photo_eval import SeatPrediction, kind_probability_summary, match_seats, photo_bytes
from evaluation.real_photo_set import RealPhoto, load_manifest
from index.calibration import shipped_calibration
from index.collection import Collection
from index.kind_calibration import fitted_temperature, tempered
from index.scene import answer_photo
from index.search import Searcher
from models.photo import load_photo

GRID = np.round(np.arange(1.0, 4.0001, 0.1), 1)


def labelled_distributions(searcher: Searcher, detector, photos: list[RealPhoto], photos_dir: Path) -> list[dict]:
    """Per detected seat matched to a label: {"split", "kind" (labelled), "categories" [(kind, p), ...]} at
    temperature 1."""
    searcher.kind_temperature = 1.0
    rows = []
    for photo in photos:
        answer = answer_photo(load_photo(photo_bytes(photos_dir, photo), 1280), detector, searcher, top_k=1)
        boxes = [SeatPrediction(tuple(o.box_px), None, None) for o in answer.objects]
        by_box = dict(zip(map(id, boxes), (o.answer.categories for o in answer.objects)))
        for seat, match in zip(photo.seats, match_seats(photo.seats, boxes)):
            if match is not None:
                rows.append({"split": photo.split, "kind": seat.kind, "categories": by_box[id(match)]})
    return rows


def whole_image_distributions(searcher: Searcher, photos: list[RealPhoto], photos_dir: Path) -> list[dict]:
    """Per photo answered whole (no detector): {"split", "kind" (the main seat's), "categories"} at
    temperature 1."""
    searcher.whole_image_kind_temperature = 1.0
    rows = []
    for photo in photos:
        answer = answer_photo(load_photo(photo_bytes(photos_dir, photo), 1280), None, searcher, top_k=1)
        rows.append({"split": photo.split, "kind": photo.main_seat.kind, "categories": answer.answer.categories})
    return rows


def figures(rows: list[dict], temperature: float) -> dict:
    """The rows' seat-kind figures with their distributions softened by `temperature`."""
    scored, nll, brier = [], [], []
    for row in rows:
        categories = tempered(row["categories"], temperature)
        kind, probability = categories[0]
        scored.append({"kind_probability": probability, "kind_right": kind == row["kind"]})
        nll.append(-np.log(max(dict(categories).get(row["kind"], 0.0), 1e-12)))
        brier.append(sum((p - (k == row["kind"])) ** 2 for k, p in categories))
    summary = kind_probability_summary(scored)
    return {key: round(float(v), 4) for key, v in
            {**summary, "nll": float(np.mean(nll)), "brier": float(np.mean(brier))}.items()}


def fit(rows: list[dict]) -> float:
    """The grid temperature of least mean Brier score over rows."""
    return float(GRID[int(np.argmin([figures(rows, t)["brier"] for t in GRID]))])


def run(photos_dir: Path) -> dict:
    settings = Settings()
    collection = Collection.open(settings.resolved_index_dir)
    embedder = bootstrap.load_embedder(settings)
    searcher = Searcher(collection, embedder, calibration=shipped_calibration(collection.manifest),
                        **search_options(settings))
    load_before = os.getloadavg()
    photos = load_manifest()
    seats = fitted_report(labelled_distributions(searcher, bootstrap.load_detector(settings), photos, photos_dir),
                          fitted_temperature(embedder.info.name))
    whole = fitted_report(whole_image_distributions(searcher, photos, photos_dir),  # and at the seats' T
                          fitted_temperature(embedder.info.name, whole_image=True),
                          fitted_temperature(embedder.info.name))
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": embedder.info.name,
            "machine": {"arch": platform.machine(), "cores": os.cpu_count(),
                        "load_before": [round(x, 2) for x in load_before]},
            **seats, "whole_image": whole}


def fitted_report(rows: list[dict], shipped: float, *also: float) -> dict:
    """The temperature fitted on the rows of the dev split, and the figures per split at 1, fitted, shipped
    and any temperature `also`."""
    splits = {"dev": [r for r in rows if r["split"] == "dev"], "test": [r for r in rows if r["split"] == "test"],
              "all": rows}
    fitted = fit(splits["dev"])
    return {"fitted_on_dev": fitted, "shipped": shipped,
            "dev_by_temperature": {f"{t:.1f}": {k: v for k, v in figures(splits["dev"], t).items()
                                                 if k in ("nll", "brier", "ece", "stated")} for t in GRID},
            "figures": {f"temperature {t:g}": {split: figures(r, t) for split, r in splits.items()}
                        for t in sorted({1.0, fitted, shipped, *also})}}


def main() -> None:
    parser = real_photo_parser(__doc__, "bench/results/kind_temperature.json")
    args = parser.parse_args()
    require_photos(parser, args.photos)
    report = run(args.photos)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for label, part in (("detected seats", report), ("whole image", report["whole_image"])):
        print(label, "fitted on dev:", part["fitted_on_dev"], "shipped:", part["shipped"])
        for name, by_split in part["figures"].items():
            print(" ", name, by_split)


if __name__ == "__main__":
    main()
