"""Which detected seat is answered first (the photo's main seat): the weighting of index.scene.main_first.

Run: PHOTO2CAD_DATA_DIR=$PWD/data .venv/bin/python -m bench.main_seat_order [--photos data/realphotos]
     [--out bench/results/main_seat_order.json]
In the real-photo evaluation the main-seat figures judge the first answer against the photo's largest labelled
seat, and half of the main seat's flips were answers about another seat (2026-12-03). The service ordered the
detected seats by score x box area x centrality until 2026-12-03 and by score x box area since (index.scene,
chosen here on dev); the other variants drop the score, or both. Every variant answers the real-photo set through the service's path (evaluation.real_photo_report.
photo_answerer: tiled detector, configured index and embedder, shipped calibration, pose options, seat-kind
temperature); only the order changes (so also which MAX_SEATS seats are answered). Figures: main seat kind,
view within 45 deg, flips, main seat answered first, per-seat kind, recall; per split
(evaluation.real_photo_eval.headline). Choices are made on dev; test reports. Writes the results with date,
machine and load.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.service_path import machine, real_photo_parser, require_photos, service_path
from evaluation.real_photo_eval import evaluate_answerer, headline
from evaluation.real_photo_report import photo_answerer
from evaluation.real_photo_set import load_manifest
from index import scene
from models.detector import Detection

WEIGHTS: dict[str, Callable[[float, float, float], float]] = {  # (score, area px, centrality) -> weight
    "score x area x centrality (until 2026-12-03)": lambda score, area, centrality: score * area * centrality,
    "area x centrality": lambda score, area, centrality: area * centrality,
    "score x area (shipped since 2026-12-03)": lambda score, area, centrality: score * area,
    "area": lambda score, area, centrality: area,
}


def ordering(weight: Callable[[float, float, float], float]):
    """A main_first with another weight (same centrality as index.scene.main_first)."""

    def main_first(seats: list[Detection], image_size: tuple[int, int]) -> list[Detection]:
        width, height = image_size
        half_diagonal = np.hypot(width, height) / 2

        def key(seat: Detection) -> float:
            x0, y0, x1, y1 = seat.box_px
            cx, cy = scene.box_centre(seat.box_px)
            centrality = 1 - 0.5 * np.hypot(cx - width / 2, cy - height / 2) / half_diagonal
            return weight(seat.score, (x1 - x0) * (y1 - y0), centrality)

        return sorted(seats, key=key, reverse=True)

    return main_first


def run(photos_dir: Path) -> dict:
    parts = service_path()
    searcher, detector, photos, facts = parts.searcher(), parts.detector, load_manifest(), machine()
    shipped, results = scene.main_first, {}
    try:
        for name, weight in WEIGHTS.items():
            scene.main_first = ordering(weight)
            figures = headline(evaluate_answerer(photo_answerer(searcher, detector), photos, photos_dir, boxes=True))
            results[name] = {split: {k: figures[split][k] for k in ("kind", "view_45", "flips", "main_first",
                                                                    "seat_kind", "recall")}
                             for split in ("dev", "test", "all")}
            print(name, results[name], flush=True)
    finally:
        scene.main_first = shipped
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": parts.embedder.info.name,
            "machine": facts,
            "photos": len(photos), "results": results, "load_after": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = real_photo_parser(__doc__, "bench/results/main_seat_order.json")
    args = parser.parse_args()
    require_photos(parser, args.photos)
    args.out.write_text(json.dumps(run(args.photos), indent=1) + "\n")


if __name__ == "__main__":
    main()
