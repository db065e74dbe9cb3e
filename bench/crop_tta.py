"""Several windows of each crop (test-time augmentation) for the heads and the retrieval, on real photographs.

Run: PHOTO2CAD_DATA_DIR=$PWD/data .venv/bin/python -m bench.crop_tta [--photos data/realphotos]
     [--variants shipped,zoom-head,...] [--out bench/results/crop_tta.json]
The pose on a real photo moves by 90-180 deg under small changes of the crop (EVALUATION.md, "Tiled seat
detection"), and reading the viewpoint head on the mirror image too cut flips (index.view_prior). Here each
crop the service searches is also read through windows of itself: "zoom" its centre (ZOOM of its side), "five"
its centre and four corners (each ZOOM of the side), all resized back to the embedder's input; every window is
embedded with its mirror image. The heads are linear in the vector, so their answer on the windows' mean vector
is the normalised geometric mean of their answers on each window (the mirror averaging's rule). What reads the
mean: "head" the viewpoint head; "kind" also the seat-kind head; "all" also the retrieval (the mean vector
normalised). Every variant answers the real-photo set through the service's path
(evaluation.real_photo_report.photo_answerer: tiled detector, configured index and embedder, shipped
calibration and pose options). Figures: main-seat kind, view within 45 deg and flips, per-seat kind and view,
per split (evaluation.real_photo_eval.headline). Choices are made on dev; test reports. Writes the results with
date, machine and load.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.service_path import machine, real_photo_parser, require_photos, service_path
from evaluation.real_photo_eval import evaluate_answerer, headline
from evaluation.real_photo_report import photo_answerer
from evaluation.real_photo_set import load_manifest
from index.search import Searcher

ZOOM = 0.85
WINDOWS = {"zoom": ("centre",), "five": ("centre", "top-left", "top-right", "bottom-left", "bottom-right")}
READERS = {"head": {"head"}, "kind": {"head", "kind"}, "all": {"head", "kind", "retrieval"}}


def variant_names() -> list[str]:
    return ["shipped"] + [f"{w}-{r}" for w in WINDOWS for r in READERS]


def windows(images: np.ndarray, names: tuple[str, ...], zoom: float = ZOOM) -> np.ndarray:
    """images (n, s, s, 3) uint8 -> (len(names) * n, s, s, 3) uint8: per name, every image's window of side
    zoom * s at that place, resized back to s (bilinear); grouped by name."""
    size = images.shape[1]
    side = round(zoom * size)
    corners = {"centre": ((size - side) // 2,) * 2, "top-left": (0, 0), "top-right": (size - side, 0),
               "bottom-left": (0, size - side), "bottom-right": (size - side, size - side)}
    out = []
    for name in names:
        left, top = corners[name]
        out += [np.asarray(Image.fromarray(image).crop((left, top, left + side, top + side))
                           .resize((size, size), Image.BILINEAR)) for image in images]
    return np.stack(out)


class WindowSearcher(Searcher):
    """A Searcher that also embeds windows of each image (and their mirror images) and lets `readers`
    (head, kind, retrieval) read the mean vector of the image and its windows."""

    names: tuple[str, ...] = ()
    readers: set[str] = set()

    def embed_with_mirror(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        self._means = None
        if not self.names:
            return super().embed_with_mirror(images)
        extra = windows(images, self.names)
        vectors, mirrored = super().embed_with_mirror(np.concatenate([images, extra]))
        groups = len(self.names) + 1
        mean = vectors.reshape(groups, len(images), -1).mean(axis=0)
        mean_mirrored = (mirrored.reshape(groups, len(images), -1).mean(axis=0) if mirrored is not None
                         else None)
        self._means = (mean, mean_mirrored)
        return vectors[:len(images)], None if mirrored is None else mirrored[:len(images)]

    def search_embeddings(self, queries, top_k=5, true_camera=None, mirrored=None):
        if self._means is None or len(self._means[0]) != len(queries):
            return super().search_embeddings(queries, top_k, true_camera, mirrored)
        mean, mean_mirrored = self._means
        unit = (mean / np.linalg.norm(mean, axis=1, keepdims=True)).astype(np.float32)
        sims, ids = self._nearest(unit if "retrieval" in self.readers else queries, top_k)
        classified = self.classify(mean if "kind" in self.readers else queries)
        heads = (self.view_prior.probabilities(*((mean, mean_mirrored) if "head" in self.readers
                                                 else (queries, mirrored)))
                 if self.view_prior is not None else [None] * len(queries))
        return [self._answer(s, i, c, top_k, true_camera, h) for s, i, c, h in zip(sims, ids, classified, heads)]


def run(photos_dir: Path, names: list[str]) -> dict:
    parts = service_path()
    detector, photos, facts = parts.detector, load_manifest(), machine()
    results = {}
    for name in names:
        searcher = parts.searcher(WindowSearcher)
        if name != "shipped":
            window, reader = name.split("-")
            searcher.names, searcher.readers = WINDOWS[window], READERS[reader]
        start = time.perf_counter()
        figures = headline(evaluate_answerer(photo_answerer(searcher, detector), photos, photos_dir, boxes=True))
        results[name] = {split: {k: figures[split][k] for k in ("kind", "view_45", "flips", "seat_kind",
                                                                "seat_view_45", "seat_flips")}
                         for split in ("dev", "test", "all")}
        results[name]["seconds"] = round(time.perf_counter() - start, 1)
        print(name, results[name], flush=True)
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": parts.embedder.info.name,
            "zoom": ZOOM, "machine": facts,
            "photos": len(photos), "results": results, "load_after": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = real_photo_parser(__doc__, "bench/results/crop_tta.json")
    parser.add_argument("--variants", default=",".join(variant_names()))
    args = parser.parse_args()
    names = [n for n in args.variants.split(",") if n]
    if not names or any(n not in variant_names() for n in names):
        parser.error(f"--variants takes names among {','.join(variant_names())}, got {args.variants!r}")
    require_photos(parser, args.photos)
    args.out.write_text(json.dumps(run(args.photos, names), indent=1) + "\n")


if __name__ == "__main__":
    main()
