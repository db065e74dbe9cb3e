"""What a seat-kind read-out fitted on real photographs would bring through the service path (cross-fitted).

Run: PHOTO2CAD_DATA_DIR=$PWD/data .venv/bin/python -m bench.kind_readout [--photos data/realphotos]
     [--l2 0.01] [--fit-set <manifest.json> [--licence-prefix "CC BY 2.0"]] [--features lite0|own]
     [--out bench/results/kind_readout.json]
A diagnostic, nothing of it ships (the real-photo set's rights are unclear, and it is the evaluation's). The
linear probes (bench.kind_probe) showed that frozen ImageNet Lite0 features, read out by a model fitted on real
crops, find the office chairs and sofas that the render-trained head misses. Here such a read-out answers
through the whole service path: a softmax regression (L2 weight --l2 on the mean log-loss, features
standardised, balanced by kind) on the frozen Lite0 vectors (efficientnet_lite0, 224 px, unit rows) of the
labelled seats' crops of one split answers the other split's photos (evaluation.real_photo_report.
photo_answerer: tiled detector, the configured index and embedder, shipped calibration, pose options and
seat-kind temperature). The Lite0 vector of each detected crop is computed beside the shipped network's (one
more network per request), and the read-out's probabilities replace ("alone") or are averaged with ("mixed")
the shipped kind head's, before the retrieval vote and the detector label as in the service. Figures: main
seat kind, per-seat kind and by-kind counts on the scored split, against the shipped path on the same photos.
--fit-set: fit instead on the labelled seats of another photo set (a JSON list of {"file", "licence", "seats":
[{"kind", "box"}]}, files relative to the manifest's folder; e.g. licensed photos that may be trained on) and
score both splits of the real-photo set; --licence-prefix keeps only its photos whose licence starts so.
--features own: the read-out reads the shipped network's own vector
instead of frozen Lite0's (no second network). Writes the results with date, machine and load.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from bench.kind_probe import labelled_crops
from catalogue.seats import SEAT_KINDS
from bench.kind_variants import VariantSearcher
from bench.service_path import machine, real_photo_parser, require_photos, service_path
from evaluation.real_photo_eval import evaluate_answerer
from evaluation.real_photo_report import photo_answerer
from evaluation.real_photo_set import load_manifest
from index.kinds import KindClassifier
from models.transfer import build_embedder


def softmax_regression(x: np.ndarray, labels: list[str], kinds: tuple[str, ...], l2: float,
                       steps: int = 2000) -> KindClassifier:
    """Multinomial logistic regression of kinds on rows x (n, d), each kind weighing the same, by gradient
    descent on standardised features; returned as a KindClassifier on the raw rows (temperature 1)."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / std
    y = np.array([[label == kind for kind in kinds] for label in labels], np.float64)
    counts = y.sum(axis=0)
    sample = (y / np.maximum(counts, 1)).sum(axis=1) / int((counts > 0).sum())  # sums to 1
    scaled = z * np.sqrt(sample)[:, None]
    rate = 1.0 / (0.5 * float(np.linalg.eigvalsh(scaled @ scaled.T)[-1]) + 1.0 + l2)  # 1 / a curvature bound
    w, b = np.zeros((z.shape[1], len(kinds))), np.zeros(len(kinds))
    for _ in range(steps):
        logits = z @ w + b
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - y) * sample[:, None]
        w -= rate * (z.T @ grad + l2 * w)
        b -= rate * grad.sum(axis=0)
    weights = np.vstack([w / std[:, None], b - (mean / std) @ w]).astype(np.float32)
    return KindClassifier(kinds, weights, 1.0)


def fit_set_crops(manifest: Path, size_px: int, licence_prefix: str = "") -> tuple[list[np.ndarray], list[str]]:
    """Crops (size_px square, uint8) and kinds of every seat of a --fit-set manifest's photos whose licence
    starts with licence_prefix."""
    from PIL import Image, ImageOps

    from index.scene import square_crop

    crops, kinds = [], []
    for entry in json.loads(manifest.read_text()):
        if not entry["licence"].startswith(licence_prefix):
            continue
        with Image.open(manifest.parent / entry["file"]) as raw:
            image = ImageOps.exif_transpose(raw).convert("RGB")
        for seat in entry["seats"]:
            crops.append(square_crop(image, tuple(seat["box"]), size_px))
            kinds.append(seat["kind"])
    return crops, kinds


def main_seat_rows(result: dict, split: str) -> dict:
    main = result[split]["main"]
    return {"kind": round(float(main["kind"]), 3), "seat_kind": round(float(result[split]["seats"]["kind"]), 3),
            "by_kind": {k: f"{v['right']}/{v['n']}" for k, v in main["by_kind"].items()}}


def score(searcher_for, detector, photos, photos_dir: Path, readout: KindClassifier, lite0) -> dict:
    """The scored photos answered with the shipped kind head, the read-out mixed in, and the read-out alone."""
    out = {}
    for name, options in (("shipped", {}), ("mixed", {"second": True}),
                          ("alone", {"second": True, "second_only": True})):
        searcher = searcher_for()
        searcher.second = (lite0, readout) if options.get("second") else None
        searcher.second_only = options.get("second_only", False)
        result = evaluate_answerer(photo_answerer(searcher, detector), photos, photos_dir, boxes=True)
        out[name] = main_seat_rows(result, "all")
    return out


def run(photos_dir: Path, l2: float, fit_set: Path | None, features: str, licence_prefix: str = "") -> dict:
    parts = service_path()
    embedder, detector, facts = parts.embedder, parts.detector, machine()
    lite0 = (build_embedder("efficientnet_lite0", parts.settings.weights_dir, input_size_px=224)
             if features == "lite0" else embedder)
    photos = load_manifest()
    crops, labels, splits, _ = labelled_crops(photos, photos_dir, 224)
    vectors = lite0.embed(np.stack(crops))
    kinds = tuple(sorted(SEAT_KINDS))

    def searcher_for() -> VariantSearcher:
        return parts.searcher(VariantSearcher)

    results = {}
    if fit_set is not None:
        crops_fit, labels_fit = fit_set_crops(fit_set, 224, licence_prefix)
        readout = softmax_regression(lite0.embed(np.stack(crops_fit)), labels_fit, kinds, l2)
        for split in ("dev", "test"):
            scored = [p for p in photos if p.split == split]
            for name, row in score(searcher_for, detector, scored, photos_dir, readout, lite0).items():
                results.setdefault(name, {})[f"fit set -> {split}"] = row
                print(name, split, row, flush=True)
    else:
        for fit, scored_split in (("dev", "test"), ("test", "dev")):
            rows = [i for i, s in enumerate(splits) if s == fit]
            readout = softmax_regression(vectors[rows], [labels[i] for i in rows], kinds, l2)
            scored = [p for p in photos if p.split == scored_split]
            for name, row in score(searcher_for, detector, scored, photos_dir, readout, lite0).items():
                results.setdefault(name, {})[f"{fit} -> {scored_split}"] = row
                print(name, fit, "->", scored_split, row, flush=True)
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": embedder.info.name,
            "l2": l2, "features": features, "fit_set": str(fit_set) if fit_set else None,
            "licence_prefix": licence_prefix, "fit_seats": len(labels_fit) if fit_set else None,
            "machine": facts,
            "results": results, "load_after": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = real_photo_parser(__doc__, "bench/results/kind_readout.json")
    parser.add_argument("--l2", type=float, default=0.01)
    parser.add_argument("--features", choices=("lite0", "own"), default="lite0")
    parser.add_argument("--fit-set", type=Path, default=None, help="manifest of photos to fit the read-out on")
    parser.add_argument("--licence-prefix", default="", help="with --fit-set: only photos whose licence starts so")
    args = parser.parse_args()
    if args.fit_set is not None and not args.fit_set.is_file():
        parser.error(f"--fit-set: no manifest at {args.fit_set}")
    if not args.l2 >= 0:
        parser.error(f"--l2 must be a number >= 0, got {args.l2}")
    require_photos(parser, args.photos)
    args.out.write_text(json.dumps(run(args.photos, args.l2, args.fit_set, args.features, args.licence_prefix), indent=1) + "\n")


if __name__ == "__main__":
    main()
