"""Tiled seat detection on the real-photo development set: which windows find the labelled seats, and what
they cost.

Run: .venv/bin/python -m bench.bench_detector_tiles [--photos data/realphotos] [--weights data/weights/detector]
For each setting of the windows (models.tiles.windows: grid fraction, grid size, squares on or off; the whole
image alone is the baseline), of when to tile (always, or only when the whole image's largest seat covers
less than a share of it: models.tiles.worth_tiling) and of the score threshold: recall of labelled seats
(IoU >= 0.5, at most index.scene.MAX_SEATS answered, as the service answers), main_first (the photo's
largest labelled seat answered first, index.scene.main_first) and the share of photos tiled, per split. Photos
are loaded as the service loads them (models.photo.load_photo, longest side 1280 px). Latency: detector
wall-clock and CPU time per photo, whole image vs the shipped tiling,
measured alternately in the same run on one LiteRT thread. Writes bench/results/detector_tiles.json.
The shipped setting (models.tiles) was chosen on the dev split; test is reported, not used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from evaluation.real_photo_eval import MATCH_IOU, SeatPrediction, box_iou, match_seats
from evaluation.real_photo_set import load_manifest, missing_photos
from index.scene import MAX_SEATS, main_first
from models import tiles
from models.detector import Detection, SeatDetector, fetch_detector_model, merge_windows
from models.photo import load_photo

SETTINGS = [  # (grid fraction, grid size, squares, tile below area); grid 0: none; below None: always tile
    (0.6, 0, False, None), (0.6, 0, True, None), (0.6, 2, False, None), (0.6, 2, True, None),
    (0.5, 2, True, None), (0.7, 2, True, None), (0.7, 2, False, None), (0.5, 3, False, None),
    (0.5, 3, True, None), (0.6, 2, True, 0.1), (0.6, 2, True, 0.2), (0.6, 2, True, 0.3)]
THRESHOLDS = (0.25, 0.3)
SHIPPED = (tiles.TILE_FRACTION, tiles.GRID, True, tiles.TILE_BELOW_AREA)


class WindowCache:
    """Raw detections per (photo, window), so that settings sharing windows run the model once."""

    def __init__(self, detector: SeatDetector) -> None:
        self.detector, self.found = detector, {}

    def seats(self, key: str, image, setting: tuple, threshold: float) -> tuple[list[Detection], bool]:
        """The seats of one setting (a row of SETTINGS) at one score threshold, and whether it tiled."""
        fraction, grid, squares, below = setting
        windows = tiles.windows(image.width, image.height, grid, fraction, squares)
        found = [(window, self.raw(key, image, window)) for window in windows[:1]]
        whole = self.detector.select([d for d in found[0][1] if d.score >= threshold])
        tiled = below is None or tiles.worth_tiling([d.box_px for d in whole], image.width, image.height, below)
        if tiled:
            found += [(window, self.raw(key, image, window)) for window in windows[1:]]
        merged = merge_windows(found, image.width, image.height)
        return self.detector.select([d for d in merged if d.score >= threshold]), tiled and len(windows) > 1

    def raw(self, key: str, image, window: tiles.Box) -> list[Detection]:
        if (key, window) not in self.found:
            self.found[key, window] = self.detector.raw_detections(image.crop(tuple(int(v) for v in window)))
        return self.found[key, window]


def score(photos, loaded, cache: WindowCache, setting, threshold: float, split: str) -> dict:
    recalled, first, answered, tiled = [], [], [], []
    for photo in (p for p in photos if p.split == split):
        image, scale = loaded[photo.id]
        seats, was_tiled = cache.seats(photo.id, image, setting, threshold)
        seats = main_first(seats, image.size)[:MAX_SEATS]
        predictions = [SeatPrediction(tuple(v * scale for v in s.box_px), None, None) for s in seats]
        recalled += [m is not None for m in match_seats(photo.seats, predictions)]
        first.append(bool(predictions) and box_iou(photo.main_seat.box, predictions[0].box) >= MATCH_IOU)
        answered.append(len(seats))
        tiled.append(was_tiled)
    return {"photos": len(first), "seats": len(recalled), "recall": round(float(np.mean(recalled)), 3),
            "main_first": round(float(np.mean(first)), 3), "answered_per_photo": round(float(np.mean(answered)), 2),
            "tiled_photos": round(float(np.mean(tiled)), 2)}


def latency(detector: SeatDetector, whole: SeatDetector, images: list, rounds: int = 2) -> dict:
    """Per photo, whole image (`whole`) vs tiled (`detector`), alternating: p50 and mean wall ms, p50 CPU ms,
    the ratio of the p50s."""
    times = {"whole image": ([], []), "tiled": ([], [])}
    for _ in range(rounds):
        for image in images:
            for name, model in (("whole image", whole), ("tiled", detector)):
                start, cpu = time.perf_counter(), time.process_time()
                model.detect(image)
                times[name][0].append(time.perf_counter() - start)
                times[name][1].append(time.process_time() - cpu)
    result = {name: {"p50_ms": round(float(np.median(w)) * 1000, 1), "mean_ms": round(float(np.mean(w)) * 1000, 1),
                     "cpu_p50_ms": round(float(np.median(c)) * 1000, 1)} for name, (w, c) in times.items()}
    result["ratio_p50"] = round(result["tiled"]["p50_ms"] / result["whole image"]["p50_ms"], 2)
    return result


def run(photos_dir: Path, weights: Path) -> dict:
    detector = SeatDetector(fetch_detector_model(weights))
    whole = SeatDetector(fetch_detector_model(weights), tiled=False)
    photos = load_manifest()
    loaded = {}
    for photo in photos:
        image = load_photo((photos_dir / photo.file).read_bytes())
        loaded[photo.id] = (image.image, image.scale)
    cache = WindowCache(detector)
    sweep = [{"fraction": f, "grid": g, "squares": q, "tile_below_area": b, "threshold": t,
              "windows_when_tiled": round(float(np.mean([len(tiles.windows(*loaded[p.id][0].size, g, f, q))
                                                         for p in photos])), 1),
              **{split: score(photos, loaded, cache, (f, g, q, b), t, split) for split in ("dev", "test")}}
             for f, g, q, b in SETTINGS for t in THRESHOLDS]
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "load_avg_1min": round(os.getloadavg()[0], 1), "photos": len(photos),
            "shipped": {"fraction": SHIPPED[0], "grid": SHIPPED[1], "squares": SHIPPED[2],
                        "tile_below_area": SHIPPED[3]},
            "latency": latency(detector, whole, [loaded[p.id][0] for p in photos]), "sweep": sweep}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path("data/realphotos"))
    parser.add_argument("--weights", type=Path, default=Path("data/weights/detector"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/detector_tiles.json"))
    args = parser.parse_args()
    if (missing := missing_photos(load_manifest(), args.photos)) is not None:
        parser.error(missing)
    report = run(args.photos, args.weights)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for row in report["sweep"]:
        print(row)
    print("latency:", report["latency"])


if __name__ == "__main__":
    main()
