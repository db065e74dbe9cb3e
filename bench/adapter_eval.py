"""Compare efficientnet_lite0 with trained lite0_adapter folders on the evaluation's sets, print JSON.

Sets: the seeded split of `photo2cad evaluate` (render, photo-like, held-out models; same seed, same
functions) and, when given, the real-photo development set. Every adapter's index is derived from the
Lite0 index (app.adapter.derive_adapter_index: same views, vectors through the adapter), so the
embedders are compared on identical views. Each searcher's confident-score rule is measured at several
scores (index.search.CONFIDENT_SCORES).

    python -m bench.adapter_eval --lite0-index data/index/efficientnet_lite0 \
        --adapter randomised=data/runs/randomised --panoramas DIR [--realphotos MANIFEST] --out results.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from app.adapter import derive_adapter_index
from evaluation.evaluate import RETRIEVED_MODELS, _outcome, summarise
from evaluation.splits import compose, make_split, render_queries
from index.build import view_cameras
from index.collection import Collection
from index.search import Searcher
from models.adapter import BACKBONE, AdapterEmbedder
from models.transfer import build_embedder

SCORES = (0.6, 0.7, 0.8, 0.9, float("inf"))


def main() -> None:
    args = _parser().parse_args()
    lite0_index = args.lite0_index.resolve()
    source = Collection.open(lite0_index)
    backbone = build_embedder(BACKBONE, args.weights_dir)
    catalogue_ids = ([e["model_id"] for e in json.loads(args.catalogue.read_text())["entries"]]
                     if args.catalogue else None)
    split = make_split(sorted(source.store.view_counts()), view_cameras(source.view_config),
                       sorted(p.name for p in args.panoramas.glob("*.exr")), args.queries, args.seed,
                       catalogue_ids=catalogue_ids)
    real = _real_photos(args.realphotos) if args.realphotos else None
    cache = args.work / f"backbone_features_seed{args.seed}_q{args.queries}_{len(real['photos']) if real else 0}.npz"
    targets = {"efficientnet_lite0": (source, backbone)}
    for name, folder in (a.split("=", 1) for a in args.adapter):
        embedder = AdapterEmbedder(Path(folder), backbone)
        leaked = set(split.heldout_models) & set(embedder.config.model_ids)
        if leaked:
            raise SystemExit(f"{name} was trained on {len(leaked)} held-out models, e.g. {min(leaked)}")
        root = args.work / name
        shutil.rmtree(root, ignore_errors=True)
        targets[name] = (derive_adapter_index(lite0_index, root, embedder, "Flat", {}), embedder)
    if cache.exists():  # the same split and photos: the backbone's features do not change
        features = dict(np.load(cache))
    else:
        began = time.perf_counter()
        inputs = {**split_images(split, source, args.panoramas),
                  **({f"real_{m}": real[m] for m in ("whole", "crop")} if real else {})}
        features = {name: backbone.embed(batch) for name, batch in inputs.items()}  # once for every embedder
        print(f"backbone features of {sum(map(len, inputs.values()))} images in "
              f"{time.perf_counter() - began:.0f} s", flush=True)
        args.work.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **features)
    results = {"split": {"seed": args.seed, "queries": args.queries, "heldout_models": split.heldout_models,
                         "test_panoramas": split.test_panoramas}, "embedders": {}}
    for name, (collection, embedder) in targets.items():
        results["embedders"][name] = _evaluate(collection, embedder, split, features, real)
        print(json.dumps({name: _short(results["embedders"][name])}), flush=True)
    args.out.write_text(json.dumps(results, indent=1))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lite0-index", type=Path, required=True)
    parser.add_argument("--adapter", action="append", default=[], help="name=folder, repeatable")
    parser.add_argument("--weights-dir", type=Path, default=Path("data/weights"))
    parser.add_argument("--panoramas", type=Path, required=True, help="the HDRI folder")
    parser.add_argument("--realphotos", type=Path, default=None, help="real-photo manifest (JSON)")
    parser.add_argument("--catalogue", type=Path, default=None,
                        help="catalogue.json: draw the held-out models from its ids, as training does")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("data/eval"), help="derived indexes go here")
    parser.add_argument("--out", type=Path, default=Path("bench/results/adapter_eval.json"))
    return parser


def split_images(split, collection: Collection, panoramas: Path) -> dict[str, np.ndarray]:
    records = {m.model_id: m for m in collection.store.list_models()}
    render, heldout = split.sets["render"], split.sets["heldout_models"]
    size = collection.view_config.size_px
    rgba = render_queries(render + heldout, records, size, 1)
    lit = render_queries(split.sets["photo"], records, size, 1, lighting_seed=split.seed * 1000 + 1)
    return {"render": compose(render, rgba[:len(render)], None), "photo": compose(split.sets["photo"], lit, panoramas),
            "heldout_models": compose(heldout, rgba[len(render):], None)}


def _evaluate(collection: Collection, embedder, split, features: dict, real: dict | None) -> dict:
    """Every set's figures at each confident score; features: backbone vectors per image set."""
    searcher = Searcher(collection, embedder, kind_holdouts=split.heldout_models)
    adapt = getattr(embedder, "adapt", lambda x: x)
    vectors = {name: adapt(batch) for name, batch in features.items()}
    out = {"by_confident_score": {}}
    for score in SCORES:
        searcher.confident_score = score
        sets = {name: summarise(split_outcomes(searcher, vectors[name], split.sets[name], name == "heldout_models"))
                for name in split.sets}
        sets["photo_by_panorama"] = {pano: summarise(split_outcomes(
            searcher, vectors["photo"][[q.background == pano for q in split.sets["photo"]]],
            [q for q in split.sets["photo"] if q.background == pano], False)) for pano in split.test_panoramas}
        if real is not None:
            sets["realphotos"] = _real_summary(searcher, real, {m: vectors[f"real_{m}"] for m in ("whole", "crop")})
        out["by_confident_score"][str(score)] = sets
    return out


def split_outcomes(searcher: Searcher, vectors: np.ndarray, queries: list, exclude_own: bool) -> list:
    answers = searcher.search_embeddings(vectors, RETRIEVED_MODELS)
    return [_outcome(searcher, q, a.matches, c, exclude_own)
            for q, a, c in zip(queries, answers, searcher.classify(vectors))]


# The real-photo set's conventions (branch devset, evaluation/real_photo_set.py and real_photo_eval.py):
# the main seat is the largest labelled box; its view is a 45-degree azimuth sector; a view is right within
# 45 deg and a flip beyond 120 deg; "180"-symmetric seats are scored modulo 180 deg, "any" not at all.
VIEW_AZIMUTH_DEG = {"front": 0.0, "front-right": 45.0, "right": 90.0, "back-right": 135.0, "back": 180.0,
                    "back-left": 225.0, "left": 270.0, "front-left": 315.0}


def _real_photos(manifest: Path) -> dict:
    """{"photos": manifest entries, "whole": square-padded photos, "crop": the main seat's box widened by
    10 % and squared (what a detector would give)}, images (n, 224, 224, 3) uint8."""
    from models.photo import square_image
    from PIL import Image, ImageOps

    entries = json.loads(manifest.read_text())["images"]
    folder = manifest.parent if (manifest.parent / entries[0]["file"]).exists() else Path(
        str(manifest.parent).replace("evaluation/realphotos", "data/realphotos"))
    whole, crop = [], []
    for entry in entries:
        with Image.open(folder / entry["file"]) as image:
            rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        x0, y0, x1, y1 = _main_seat(entry)["box"]
        side = 1.1 * max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        box = [round(v) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)]
        padded = np.pad(rgb, ((max(0, -box[1]), max(0, box[3] - rgb.shape[0])),
                              (max(0, -box[0]), max(0, box[2] - rgb.shape[1])), (0, 0)), constant_values=255)
        oy, ox = max(0, -box[1]), max(0, -box[0])
        crop.append(_resized(padded[box[1] + oy:box[3] + oy, box[0] + ox:box[2] + ox]))
        whole.append(square_image(Image.fromarray(rgb), 224))
    return {"photos": entries, "whole": np.stack(whole), "crop": np.stack(crop)}


def _resized(image: np.ndarray, size: int = 224) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((size, size), Image.LANCZOS))


def _main_seat(entry: dict) -> dict:
    return max(entry["seats"], key=lambda s: (s["box"][2] - s["box"][0]) * (s["box"][3] - s["box"][1]))


def _real_summary(searcher: Searcher, real: dict, vectors: dict) -> dict:
    """Main-seat kind, view within 45 deg and flips, per input (whole photo, seat crop) and split."""
    from render.cameras import camera_to_angles

    out = {}
    for mode in ("whole", "crop"):
        answers = searcher.search_embeddings(vectors[mode], RETRIEVED_MODELS)
        rows = []
        for entry, answer, classified in zip(real["photos"], answers, searcher.classify(vectors[mode])):
            seat = _main_seat(entry)
            kinds = searcher.seat_kinds(answer.matches, classified)
            row = {"split": entry["split"], "kind_right": bool(kinds) and kinds[0][0] == seat["kind"]}
            if seat["view"] != "any" and seat.get("symmetry") != "any":
                azimuth = float(camera_to_angles(np.asarray(answer.matches[0].pose.camera))[1])
                diff = abs((azimuth - VIEW_AZIMUTH_DEG[seat["view"]] + 180.0) % 360.0 - 180.0)
                row["view_error_deg"] = min(diff, 180.0 - diff) if seat.get("symmetry") == "180" else diff
            rows.append(row)
        out[mode] = {split: _real_figures([r for r in rows if split == "all" or r["split"] == split])
                     for split in ("dev", "test", "all")}
    return out


def _real_figures(rows: list[dict]) -> dict:
    errors = np.array([r["view_error_deg"] for r in rows if "view_error_deg" in r])
    return {"n": len(rows), "kind": float(np.mean([r["kind_right"] for r in rows])),
            "view_n": len(errors), "view_within_45": float(np.mean(errors <= 45.0)),
            "flips": float(np.mean(errors > 120.0))}


def _short(result: dict) -> dict:
    return {score: {name: {k: s[k] for k in ("top1", "seat_kind", "crop", "whole") if k in s}
                    for name, s in sets.items()} for score, sets in result["by_confident_score"].items()}


if __name__ == "__main__":
    main()
