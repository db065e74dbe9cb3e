"""Seat kind on real photographs: the mixing weight, the kind head on mirror images, a second network's head.

Run: PHOTO2CAD_DATA_DIR=$PWD/data .venv/bin/python -m bench.kind_variants [--photos data/realphotos]
     [--weights 0.25,0.5,0.75,1] [--second data/models/ft_seeds01] [--out bench/results/kind_variants.json]
Every variant answers the real-photo set through the service's path (evaluation.real_photo_report.
photo_answerer: tiled detector, the configured index and embedder, shipped calibration, the configured pose
options); only the seat-kind probabilities change:
- "vote weight w": the retrieval vote's share of the mixture (index.search.KIND_VOTE_WEIGHT, 0.5 shipped;
  1 = the vote alone, no kind head);
- "mirror": the kind head's probabilities averaged over each crop and its mirror image (the mirror vectors
  the view head already reads, so no extra embedding);
- "second": the kind head's probabilities averaged with those of another trained lite0_finetuned folder's
  head on the same crops (one more network per request), and "second alone": that head only.
Figures: main-seat kind, view within 45 deg and flips, per-seat kind, per split (evaluation.real_photo_eval.
headline). Choices are made on dev; test reports. Writes the results with date, machine and load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from app import bootstrap
from app.deps import search_options
from app.settings import Settings
from bench.service_path import number_list
from evaluation.real_photo_eval import evaluate_answerer, headline
from evaluation.real_photo_report import photo_answerer
from evaluation.real_photo_set import load_manifest, missing_photos
from index.calibration import shipped_calibration
from index.collection import Collection
from index.kinds import KindClassifier
from index.search import Searcher, _own_kind_classifier
from models.embedder import Embedder


class VariantSearcher(Searcher):
    """A Searcher whose kind-head probabilities are averaged with the mirror images' (`mirror_kind`) or with
    a second network's head on the same images (`second`, `second_only`)."""

    mirror_kind = False
    second: tuple[Embedder, KindClassifier] | None = None
    second_only = False

    def embed_with_mirror(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        self._second_vectors = self.second[0].embed(images) if self.second is not None else None
        return super().embed_with_mirror(images)

    def search_embeddings(self, queries, top_k=5, true_camera=None, mirrored=None):
        self._mirrored = mirrored
        return super().search_embeddings(queries, top_k, true_camera, mirrored)

    def classify(self, queries: np.ndarray) -> list[dict[str, float]]:
        own = super().classify(queries)
        others: list[dict[str, float]] | None = None
        if self.second is not None and self._second_vectors is not None:
            head = self.second[1]
            others = [dict(zip(head.kinds, map(float, row))) for row in head.probabilities(self._second_vectors)]
        elif self.mirror_kind and getattr(self, "_mirrored", None) is not None:
            others = super().classify(self._mirrored)
        if others is None or len(others) != len(own):
            return own
        if self.second_only:
            return others
        return [{k: 0.5 * (a[k] + b.get(k, 0.0)) for k in a} for a, b in zip(own, others)]


def variants(weights: list[float], second: bool) -> list[tuple[str, dict]]:
    out = [(f"vote weight {w:g}", {"kind_vote_weight": w}) for w in weights]
    out.append(("mirror", {"mirror_kind": True}))
    if second:
        out += [("second", {"second": True}), ("second alone", {"second": True, "second_only": True})]
    return out


def run(photos_dir: Path, weights: list[float], second_dir: Path | None) -> dict:
    settings = Settings()
    collection = Collection.open(settings.resolved_index_dir)
    embedder = bootstrap.load_embedder(settings)
    detector = bootstrap.load_detector(settings)
    second = None
    if second_dir is not None:
        other = bootstrap.load_embedder(settings.model_copy(update={"finetuned_model_dir": second_dir}))
        second = (other, _own_kind_classifier(other))
    photos = load_manifest()
    load_before = os.getloadavg()
    results = {}
    for name, options in variants(weights, second is not None):
        searcher = VariantSearcher(collection, embedder, calibration=shipped_calibration(collection.manifest),
                                   kind_vote_weight=options.get("kind_vote_weight", 0.5),
                                   **search_options(settings))
        searcher.mirror_kind = options.get("mirror_kind", False)
        searcher.second = second if options.get("second") else None
        searcher.second_only = options.get("second_only", False)
        figures = headline(evaluate_answerer(photo_answerer(searcher, detector), photos, photos_dir, boxes=True))
        results[name] = {split: {k: figures[split][k] for k in ("kind", "view_45", "flips", "seat_kind")}
                         for split in ("dev", "test", "all")}
        print(name, results[name], flush=True)
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": settings.embedder,
            "second": str(second_dir) if second_dir else None,
            "machine": {"arch": platform.machine(), "cores": os.cpu_count(),
                        "load_before": [round(x, 2) for x in load_before]},
            "photos": len(photos), "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path("data/realphotos"))
    parser.add_argument("--weights", default="0.25,0.5,0.75,1")
    parser.add_argument("--second", type=Path, default=None, help="another trained lite0_finetuned folder")
    parser.add_argument("--out", type=Path, default=Path("bench/results/kind_variants.json"))
    args = parser.parse_args()
    weights = number_list(parser, "--weights", args.weights, lambda w: 0 <= w <= 1, "in [0, 1]")
    if args.second is not None and not (args.second / "manifest.json").is_file():
        parser.error(f"--second: no trained folder at {args.second} (no manifest.json)")
    if (missing := missing_photos(load_manifest(), args.photos)) is not None:
        parser.error(missing)
    args.out.write_text(json.dumps(run(args.photos, weights, args.second), indent=1) + "\n")


if __name__ == "__main__":
    main()
