"""What tiled detection changes in the answers, and two ways tried to keep its crops' views stable.

Run: PHOTO2CAD_DATA_DIR=$PWD/data .venv/bin/python -m bench.tiled_answer_variants [--photos data/realphotos]
On the real-photo set, through the service's path (evaluation.real_photo_report.photo_answerer, the
configured index and embedder, the shipped pose calibration), scores (evaluation.real_photo_eval) for:
- whole: the detector without tiles; tiled: as shipped (models.tiles);
- whole_box_first: tiled, but a seat the whole image finds keeps the whole image's box (tile boxes only
  add seats it missed);
- crops_margins / crops_shifts: tiled, each seat's query the mean of the unit embeddings of several crops
  (margins 0.10, 0.16, 0.24 of the box; or the box shifted by 5 % of its size in four directions).
Writes bench/results/tiled_answer_variants.json (main-seat and per-seat figures per split).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from app import bootstrap
from app.settings import Settings
from evaluation.real_photo_eval import evaluate_answerer, headline
from evaluation.real_photo_report import photo_answerer
from evaluation.real_photo_set import load_manifest, missing_photos
from index import scene
from index.calibration import shipped_calibration
from index.collection import Collection
from index.search import Searcher
from models.detector import SeatDetector, box_iou

CROPS = {"crops_margins": [(0.10, 0.0, 0.0), (0.16, 0.0, 0.0), (0.24, 0.0, 0.0)],
         "crops_shifts": [(0.16, 0.0, 0.0), (0.16, 0.05, 0.0), (0.16, -0.05, 0.0), (0.16, 0.0, 0.05),
                          (0.16, 0.0, -0.05)]}


class WholeBoxFirst:
    """A tiled detector whose seats found in the whole image keep the whole image's box."""

    def __init__(self, detector: SeatDetector) -> None:
        self.detector = detector

    def detect(self, image):
        kept = self.detector.select(self.detector.raw_detections(image))
        extra = self.detector.select(self.detector.tiled_detections(image))
        kept += [d for d in extra if all(box_iou(d.box_px, k.box_px) <= self.detector.nms_iou for k in kept)]
        return sorted(kept, key=lambda d: -d.score)


def shifted(box, dx: float, dy: float):
    width, height = box[2] - box[0], box[3] - box[1]
    return box[0] + dx * width, box[1] + dy * height, box[2] + dx * width, box[3] + dy * height


def averaged_crops(crops: list[tuple[float, float, float]]):
    """index.scene.answer_seats with each seat's vector the normalised mean over `crops` (margin, dx, dy)."""

    def answer_seats(photo, seats, searcher, top_k=5, true_camera=None, max_seats=scene.MAX_SEATS):
        seats = scene.main_first(seats, photo.image.size)[:max_seats]
        if not seats:
            return original(photo, seats, searcher, top_k, true_camera, max_seats)
        size = searcher.embedder.info.input_size_px
        images = [scene.square_crop(photo.image, shifted(s.box_px, dx, dy), size, margin)
                  for s in seats for margin, dx, dy in crops]
        vectors = searcher.embed(np.stack(images)).reshape(len(seats), len(crops), -1).mean(axis=1)
        vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        answers = searcher.search_embeddings(vectors, top_k, true_camera)
        focal = scene.focal_px(photo.image.size, photo.focal_35mm_mm)
        cues = searcher.kind_cues(np.stack([scene.square_crop(photo.image, s.box_px, size) for s in seats]))
        objects = [scene._seat_answer(photo, s, a, v, focal, searcher, c)
                   for s, a, v, c in zip(seats, answers, vectors, cues)]
        return scene.PhotoAnswer(True, objects, objects[0].answer, objects[0].vector)

    original = scene.answer_seats
    return answer_seats


def run(photos_dir: Path) -> dict:
    settings = Settings()
    collection = Collection.open(settings.resolved_index_dir)
    searcher = Searcher(collection, bootstrap.load_embedder(settings),
                        calibration=shipped_calibration(collection.manifest))
    tiled = SeatDetector(settings.detector_dir)
    detectors = {"whole": SeatDetector(settings.detector_dir, tiled=False), "tiled": tiled,
                 "whole_box_first": WholeBoxFirst(tiled)}
    photos, results = load_manifest(), {}
    for name, detector in detectors.items():
        results[name] = headline(evaluate_answerer(photo_answerer(searcher, detector), photos, photos_dir, True))
    shipped = scene.answer_seats
    for name, crops in CROPS.items():
        scene.answer_seats = averaged_crops(crops)
        try:
            results[name] = headline(evaluate_answerer(photo_answerer(searcher, tiled), photos, photos_dir, True))
        finally:
            scene.answer_seats = shipped
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": settings.embedder,
            "photos": len(photos), "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path("data/realphotos"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/tiled_answer_variants.json"))
    args = parser.parse_args()
    if (missing := missing_photos(load_manifest(), args.photos)) is not None:
        parser.error(missing)
    report = run(args.photos)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for name, splits in report["results"].items():
        for split, figures in splits.items():
            print(name, split, figures)


if __name__ == "__main__":
    main()
