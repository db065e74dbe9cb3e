"""Seat detector on real photographs with boxes (COCO128, YOLO labels): score-threshold and NMS sweep, the
recall/precision at the chosen setting, and latency per photo on one LiteRT thread (wall clock, and the
process's CPU time, which a busy machine inflates less); then the shipped setting with and without tiling
(models.tiles, chosen on the real-photo set: bench/bench_detector_tiles.py), to show what tiling costs in
precision on other photos.

Run: .venv/bin/python -m bench.bench_detector --coco128 data/coco128 [--weights data/weights/detector]
`--coco128` is a folder with images/<split>/*.jpg and object_detection/labels/<split>/*.txt, as in the
GitHub repository lightly-ai/coco128_yolo (fetched by hand, kept out of git: COCO images, rights unclear).
A predicted seat matches an unmatched labelled seat (chair 56, couch 57, bench 13) at IoU >= 0.5, any seat
class (the crop is what matters; the label is scored apart as `label_accuracy`). Writes
bench/results/detector.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image

from models.detector import (
    CROSS_CLASS_NMS_IOU,
    SCORE_THRESHOLDS,
    Detection,
    SeatDetector,
    box_iou,
    fetch_detector_model,
    suppress,
)

COCO_SEATS = {56: "chair", 57: "couch", 13: "bench"}
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)
NMS_IOUS = (0.3, 0.45, 0.6, 1.0)  # 1.0: no cross-class suppression
MATCH_IOU = 0.5
LARGE_PX2 = 96 * 96


def labelled_seats(label_file: Path, width: int, height: int) -> list[Detection]:
    """YOLO rows 'class cx cy w h' (normalised) of seat classes -> boxes in pixels, score 1."""
    seats = []
    for row in label_file.read_text().split("\n") if label_file.exists() else []:
        parts = row.split()
        if parts and int(parts[0]) in COCO_SEATS:
            cx, cy, w, h = (float(v) for v in parts[1:5])
            box = ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)
            seats.append(Detection(box, COCO_SEATS[int(parts[0])], 1.0))
    return seats


def matches(predicted: list[Detection], truth: list[Detection]) -> tuple[int, int]:
    """Greedy matching, best score first: (true positives, of which with the right label)."""
    free, hits, right = list(truth), 0, 0
    for detection in sorted(predicted, key=lambda d: -d.score):
        ious = [box_iou(detection.box_px, t.box_px) for t in free]
        if ious and max(ious) >= MATCH_IOU:
            hit = free.pop(int(np.argmax(ious)))
            hits, right = hits + 1, right + (hit.label == detection.label)
    return hits, right


def large(truth: list[Detection]) -> list[Detection]:
    """COCO's "large" objects (area > 96 x 96 px), the seats a photo is usually taken of."""
    return [t for t in truth if (t.box_px[2] - t.box_px[0]) * (t.box_px[3] - t.box_px[1]) > LARGE_PX2]


def scores(photos: list[tuple[list[Detection], list[Detection]]], threshold: float, nms_iou: float) -> dict:
    """Recall (all seats and large ones), precision, F1 and label accuracy over (raw detections, truth)
    pairs at one setting."""
    tp = right = n_pred = n_true = large_hits = n_large = 0
    for raw, truth in photos:
        kept = suppress([d for d in raw if d.score >= threshold], nms_iou)
        hits, correct = matches(kept, truth)
        tp, right, n_pred, n_true = tp + hits, right + correct, n_pred + len(kept), n_true + len(truth)
        large_hits, n_large = large_hits + matches(kept, large(truth))[0], n_large + len(large(truth))
    recall, precision = tp / max(n_true, 1), tp / max(n_pred, 1)
    return {"threshold": threshold, "nms_iou": nms_iou, "recall": round(recall, 3),
            "recall_large": round(large_hits / max(n_large, 1), 3), "large": n_large,
            "precision": round(precision, 3), "f1": round(2 * recall * precision / max(recall + precision, 1e-9), 3),
            "label_accuracy": round(right / max(tp, 1), 3), "true": n_true, "predicted": n_pred, "hits": tp}


def run(coco128: Path, weights: Path) -> dict:
    detector = SeatDetector(fetch_detector_model(weights))
    photos, tiled, seconds, cpu_seconds, tiled_seconds = [], [], [], [], []
    for image_file in sorted(coco128.glob("images/*/*.jpg")):
        label_file = coco128 / "object_detection/labels" / image_file.parent.name / f"{image_file.stem}.txt"
        with Image.open(image_file) as opened:
            image = opened.convert("RGB")
        start, cpu_start = time.perf_counter(), time.process_time()
        raw = detector.raw_detections(image)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
        start = time.perf_counter()
        every_window = detector.tiled_detections(image)
        tiled_seconds.append(time.perf_counter() - start)
        truth = labelled_seats(label_file, image.width, image.height)
        photos.append((raw, truth))
        tiled.append((every_window, truth))
    sweep = [scores(photos, t, n) for t in THRESHOLDS for n in NMS_IOUS]
    best = max(sweep, key=lambda s: (s["f1"], s["recall"]))
    ms, cpu_ms = np.array(seconds[1:]) * 1000, np.array(cpu_seconds[1:]) * 1000  # the first call warms up
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 1),
            "photos": len(photos), "photos_with_seats": sum(bool(t) for _, t in photos),
            "latency_ms": {"p50": round(float(np.median(ms)), 1), "p90": round(float(np.percentile(ms, 90)), 1),
                           "cpu_p50": round(float(np.median(cpu_ms)), 1), "threads": 1},
            "best_f1": best, "sweep": sweep,
            "shipped": {"whole image": scores(photos, SCORE_THRESHOLDS["chair"], CROSS_CLASS_NMS_IOU),
                        "tiled": scores(tiled, SCORE_THRESHOLDS["chair"], CROSS_CLASS_NMS_IOU),
                        "tiled_latency_ms_p50": round(float(np.median(tiled_seconds[1:])) * 1000, 1)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coco128", type=Path, required=True)
    parser.add_argument("--weights", type=Path, default=Path("data/weights/detector"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/detector.json"))
    args = parser.parse_args()
    report = run(args.coco128, args.weights)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for row in report["sweep"]:
        print(" ".join(f"{k}={v}" for k, v in row.items()))
    print("shipped thresholds, whole image vs tiled:", report["shipped"])
    print("best:", report["best_f1"], "latency:", report["latency_ms"], "photos:", report["photos"])


if __name__ == "__main__":
    main()
