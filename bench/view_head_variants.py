"""The viewpoint head read otherwise: with a prior on where photographs are taken from, or averaged with the heads
of other fine-tuned networks.

Run: PHOTO2CAD_DATA_DIR=$PWD/data .venv/bin/python -m bench.view_head_variants [--photos data/realphotos]
     [--front 0.25,0.5,1,2] [--level 1,3] [--with data/models/ft_seeds01 ...]
     [--out bench/results/view_head_variants.json]
The service weighs each retrieved view by the head's probability of its camera (index.view_prior). Variants:
- front a: the head's probabilities times exp(a cos(azimuth)), renormalised: a von Mises prior towards the
  seat's front. The networks learn from renders spread evenly over the azimuth, while photographs of seats are
  taken more often from the front (the set's labelled seats: 115 front-quarter views of 228, 53 back-quarter).
- level b: times exp(b sin(polar)): towards level views (271 of the 289 labelled seats are seen level).
- with F: the head's answer (on the crop and its mirror image) averaged, by normalised geometric mean, with the
  heads of the networks in folders F (each a `photo2cad train-finetune` run over the same view grid), each
  folder alone and then all of them together. They share the frozen trunk; only their tops would run again.
Every variant answers the real-photo set through the service's path (evaluation.real_photo_report.
photo_answerer); only the view head's probabilities change (the seat kind does not). Figures per split as in
bench.crop_margin; choices on dev, test reports.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from bench.service_path import machine, number_list, real_photo_parser, require_photos, service_path
from index.search import Searcher
from index.view_prior import ViewPrior
from render.cameras import camera_to_angles

KEYS = ("kind", "view_45", "flips", "seat_kind", "seat_view_45", "seat_flips")


class VariantPrior(ViewPrior):
    """The shipped head's probabilities, averaged with other networks' heads on the images the searcher last
    embedded, times a fixed weight per grid camera."""

    def __init__(self, base: ViewPrior, searcher: VariantSearcher) -> None:
        super().__init__(base.weights, base.temperature, base.grid)
        self.searcher, self.others, self.camera_weights = searcher, [], np.ones(len(base.grid))

    def probabilities(self, queries: np.ndarray, mirrored: np.ndarray | None = None) -> np.ndarray:
        log_p = [np.log(super().probabilities(queries, mirrored) + 1e-300)]
        images = self.searcher.last_images
        for other, prior in self.others:
            both = other.embed(np.concatenate([images, images[:, :, ::-1]]))
            log_p.append(np.log(prior.probabilities(both[:len(images)], both[len(images):]) + 1e-300))
        mean = np.mean(log_p, axis=0) + np.log(self.camera_weights)[None]
        mean -= mean.max(axis=1, keepdims=True)
        p = np.exp(mean)
        return p / p.sum(axis=1, keepdims=True)


class VariantSearcher(Searcher):
    """The service's Searcher remembering the images it embeds last (the other networks read them too)."""

    last_images: np.ndarray

    def embed_with_mirror(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        self.last_images = images
        return super().embed_with_mirror(images)


def variants(fronts: list[float], levels: list[float], others: list[Path]) -> list[tuple[str, dict]]:
    """(name, settings) of every variant, the shipped reading first."""
    rows = [("shipped", {})]
    rows += [(f"front {a:g}", {"front": a}) for a in fronts] + [(f"level {b:g}", {"level": b}) for b in levels]
    rows += [(f"with {p.name}", {"with": [p]}) for p in others]
    if len(others) > 1:
        rows.append(("with " + " + ".join(p.name for p in others), {"with": list(others)}))
    return rows


def run(photos_dir: Path, fronts: list[float], levels: list[float], others: list[Path]) -> dict:
    from evaluation.real_photo_eval import evaluate_answerer, headline
    from evaluation.real_photo_report import photo_answerer
    from evaluation.real_photo_set import load_manifest
    from models.finetuned import FinetunedEmbedder

    parts = service_path()
    searcher, detector, photos, facts = parts.searcher(VariantSearcher), parts.detector, load_manifest(), machine()
    if searcher.view_prior is None:
        raise SystemExit(f"{parts.embedder.info.name} has no viewpoint head over its index's grid")
    prior = searcher.view_prior = VariantPrior(searcher.view_prior, searcher)
    polar, azimuth = np.radians(camera_to_angles(prior.grid))
    networks = {}
    for folder in others:
        network = FinetunedEmbedder(folder, Path(parts.embedder.spec.lite0_weights))
        networks[folder] = (network, ViewPrior(*network.view_head(), prior.grid))
    results = {}
    for name, setting in variants(fronts, levels, others):
        prior.camera_weights = np.exp(setting.get("front", 0.0) * np.cos(azimuth)
                                      + setting.get("level", 0.0) * np.sin(polar))
        prior.others = [networks[f] for f in setting.get("with", [])]
        figures = headline(evaluate_answerer(photo_answerer(searcher, detector), photos, photos_dir, boxes=True))
        results[name] = {split: {k: figures[split][k] for k in KEYS} for split in ("dev", "test", "all")}
        print(name, results[name], flush=True)
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": parts.embedder.info.name,
            "machine": facts, "photos": len(photos), "others": [str(p) for p in others], "results": results,
            "load_after": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = real_photo_parser(__doc__, "bench/results/view_head_variants.json")
    parser.add_argument("--front", default="0.25,0.5,1,2", help="von Mises concentrations towards the front")
    parser.add_argument("--level", default="1,3", help="weights towards level views")
    parser.add_argument("--with", dest="others", type=Path, action="append", default=[],
                        help="a fine-tuned network's folder whose view head is averaged in; repeatable")
    args = parser.parse_args()
    fronts = number_list(parser, "--front", args.front, lambda a: 0 <= a <= 20, "in [0, 20]")
    levels = number_list(parser, "--level", args.level, lambda b: 0 <= b <= 20, "in [0, 20]")
    for folder in args.others:
        if not (folder / "manifest.json").is_file():
            parser.error(f"--with: no trained folder at {folder}")
    require_photos(parser, args.photos)
    args.out.write_text(json.dumps(run(args.photos, fronts, levels, args.others), indent=1) + "\n")


if __name__ == "__main__":
    main()
