"""ImageNet's cues to the seat kind on real photographs: off, and a grid of floors and weights.

Run: PHOTO2CAD_DATA_DIR=$PWD/data .venv/bin/python -m bench.kind_cues [--photos data/realphotos]
     [--floors 0.01,0.05,0.2] [--weights 0.5,1,2] [--timing fc-chair-00000135,ikea-038] [--repeats 30]
     [--cost-only] [--check-set training_photos/coco_licensed/manifest.json] [--out bench/results/kind_cues.json]
Every variant answers the real-photo set through the service's path (evaluation.real_photo_report.
photo_answerer: tiled detector, the configured index and embedder, shipped calibration, pose options and
seat-kind temperatures); only the seat-kind evidence of ImageNet's classifier changes (index.kind_cues:
off, or each floor x weight). The detector's boxes of a photo are computed once and reused by every variant
(they do not depend on it). Figures per split (evaluation.real_photo_eval.headline): main-seat kind, view and
flips, per-seat kind; plus the main seats' kind by labelled kind and how honest the stated kind probabilities
are (mean stated against right, ECE). Then the same for whole-image answers (no detector) with the cues off
and at the shipped floor and weight. Choices are made on dev; test reports. Cost: for the --timing photos
(ids of the set), index.scene.answer_seats (embedding, ImageNet's classifier and search of the detected seats,
the part that changes) timed with the cues on and off alternately, --repeats times each, the first 3 dropped;
medians and their ratio (--cost-only: this part alone). --check-set: a third set of real photos labelled by
seat kind only (a manifest as bench.kind_readout's --fit-set; e.g. the licensed COCO photos, extracted with
tools/training_photos/extract.py), nothing of which chose anything: each labelled seat's crop searched (the
service's searcher, no detector, so no label evidence) and its kind answered with the cues off and at the
shipped floor and weight; per-seat kind and by kind (this part alone). Writes the results with date, machine and load.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from bench.kind_readout import fit_set_crops
from bench.service_path import (alternate_medians_ms, machine, number_list, real_photo_parser, require_photos,
                                service_path)
from evaluation.real_photo_eval import evaluate_answerer, headline
from evaluation.real_photo_report import photo_answerer
from evaluation.real_photo_set import load_manifest
from index.kind_cues import CUE_FLOOR, CUE_WEIGHT, with_cue_evidence
from index.scene import answer_seats
from models.photo import load_photo


class RememberedDetector:
    """A detector whose answer for each image is computed once (keyed by the image's pixels)."""

    def __init__(self, detector) -> None:
        self.detector, self.answers = detector, {}

    def detect(self, image):
        key = hashlib.sha256(np.asarray(image).tobytes()).hexdigest() + str(image.size)
        if key not in self.answers:
            self.answers[key] = self.detector.detect(image)
        return self.answers[key]


def figures(result: dict) -> dict:
    out = headline(result)
    for split in ("dev", "test"):
        main = result[split]["main"]
        out[split]["by_kind"] = {k: f"{v['right']}/{v['n']}" for k, v in main["by_kind"].items()}
        stated = main["kind_probabilities"]
        out[split]["stated"] = round(float(stated["stated"]), 3)
        out[split]["ece"] = round(float(stated["ece"]), 3)
    return out


def answer_all(parts, detector, photos, photos_dir, floor: float | None, weight: float) -> dict:
    searcher = parts.searcher(kind_cues=floor is not None)
    if floor is not None:
        searcher.kind_cue_floor, searcher.kind_cue_weight = floor, weight
    return figures(evaluate_answerer(photo_answerer(searcher, detector), photos, photos_dir, boxes=True))


def cost(parts, files, repeats: int) -> list[dict]:
    """Median answer_seats time (ms) per photo with the cues on and off, measured alternately."""
    searchers = {on: parts.searcher(kind_cues=on) for on in (True, False)}
    rows = []
    for path in files:
        photo = load_photo(path.read_bytes())
        seats = parts.detector.detect(photo.image)
        medians = alternate_medians_ms({on: (lambda s=s: answer_seats(photo, seats, s, top_k=5))
                                        for on, s in searchers.items()}, repeats)
        on, off = medians[True], medians[False]
        rows.append({"photo": path.stem, "seats_answered": min(len(seats), 6), "off_ms": round(off, 1),
                     "on_ms": round(on, 1), "ratio": round(on / off, 2)})
    return rows


def check_set(parts, manifest: Path) -> dict:
    """Per-seat kind of the labelled crops of another photo set, cues off and on (module docstring)."""
    crops, kinds = fit_set_crops(manifest, parts.embedder.info.input_size_px)
    images = np.stack(crops)
    out = {"manifest": str(manifest), "seats": len(kinds)}
    for on in (False, True):
        searcher = parts.searcher(kind_cues=on)
        answers = searcher.search_embeddings(searcher.embed(images), top_k=1)
        answered = [with_cue_evidence(a.categories, c)[0][0] for a, c in zip(answers, searcher.kind_cues(images))]
        right = [a == k for a, k in zip(answered, kinds)]
        out["on" if on else "off"] = {"kind": round(float(np.mean(right)), 3), "by_kind": {
            k: f"{sum(r for r, t in zip(right, kinds) if t == k)}/{kinds.count(k)}" for k in sorted(set(kinds))}}
    return out


def accuracy(parts, photos, photos_dir, floors: list[float], weights: list[float]) -> dict:
    detector = RememberedDetector(parts.detector)
    variants = [("off", None, 1.0)] + [(f"floor {f:g} weight {w:g}", f, w) for f in floors for w in weights]
    detected, whole = {}, {}
    for name, floor, weight in variants:
        detected[name] = answer_all(parts, detector, photos, photos_dir, floor, weight)
        print(name, {s: (detected[name][s]["kind"], detected[name][s]["seat_kind"]) for s in ("dev", "test")},
              flush=True)
    for name, floor in (("off", None), (f"floor {CUE_FLOOR:g} weight {CUE_WEIGHT:g}", CUE_FLOOR)):
        whole[name] = answer_all(parts, None, photos, photos_dir, floor, CUE_WEIGHT)
        print("whole image", name, {s: whole[name][s]["kind"] for s in ("dev", "test")}, flush=True)
    return {"detector_and_per_seat_search": detected, "whole_image": whole}


def run(photos_dir, floors: list[float], weights: list[float], timing: list, repeats: int, cost_only: bool,
        check: Path | None = None) -> dict:
    parts, facts = service_path(), machine()
    photos = load_manifest()
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": parts.embedder.info.name,
              "machine": facts | {"omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
              "shipped": {"floor": CUE_FLOOR, "weight": CUE_WEIGHT}}
    if check is not None:  # this part alone
        report["check_set"] = check_set(parts, check)
        print("check set", report["check_set"], flush=True)
        return report | {"load_after": [round(x, 2) for x in os.getloadavg()]}
    if not cost_only:
        report |= accuracy(parts, photos, photos_dir, floors, weights)
    report["cost"] = cost(parts, [photos_dir / p.file for p in photos if p.id in timing], repeats)
    for row in report["cost"]:
        print(row, flush=True)
    return report | {"load_after": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = real_photo_parser(__doc__, "bench/results/kind_cues.json")
    parser.add_argument("--floors", default="0.01,0.05,0.2")
    parser.add_argument("--weights", default="0.5,1,2")
    parser.add_argument("--timing", default="fc-chair-00000135,ikea-038", help="photo ids of the set to time")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--cost-only", action="store_true")
    parser.add_argument("--check-set", type=Path, default=None, help="manifest of another labelled photo set")
    args = parser.parse_args()
    floors = number_list(parser, "--floors", args.floors, lambda v: v > 0, "> 0")
    weights = number_list(parser, "--weights", args.weights, lambda v: v >= 0, ">= 0")
    timing = [name for name in args.timing.split(",") if name]
    if args.repeats < 4:
        parser.error("--repeats must be at least 4 (the first 3 are dropped)")
    if not timing or not set(timing) <= {p.id for p in load_manifest()}:
        parser.error(f"--timing takes ids of the real-photo set (e.g. ikea-038), got {args.timing!r}")
    if args.check_set is not None and not args.check_set.is_file():
        parser.error(f"--check-set: no manifest at {args.check_set}")
    if args.check_set is None:  # the check set alone needs no real-photo set
        require_photos(parser, args.photos)
    report = run(args.photos, floors, weights, timing, args.repeats, args.cost_only, args.check_set)
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
