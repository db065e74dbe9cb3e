"""The confident-score rule (index.search.CONFIDENT_SCORES) of any embedder, measured on its own index.

On the seeded split of `photo2cad evaluate` (render, photo-like and held-out-model queries: same seed, same
functions), every query is searched once per candidate score; reported per set: top-1, seat kind, and
"contradicted": the share of queries whose top-1 model is right but whose seat kind differs from that
model's (what the rule exists to prevent). On held-out models (the own model excluded) a confident
top-1 is always another model, so a lower score there costs seat kind: the rule's price.

    PHOTO2CAD_EMBEDDER=lite0_finetuned python -m bench.confident_score [--queries 50] \
        [--out bench/results/confident_score_lite0_finetuned.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from app import bootstrap
from app.settings import Settings
from bench.adapter_eval import split_images, split_outcomes
from evaluation.evaluate import summarise
from evaluation.splits import make_split
from index.build import view_cameras
from index.collection import Collection
from index.search import Searcher

SCORES = (0.5, 0.6, 0.7, 0.8, 0.9, float("inf"))


def main() -> None:
    args = _parser().parse_args()
    settings = Settings()
    out = args.out or Path(f"bench/results/confident_score_{settings.embedder}.json")
    collection = Collection.open(settings.resolved_index_dir)
    embedder = bootstrap.load_embedder(settings)
    catalogue_ids = [e.model_id for e in bootstrap.ensure_catalogue(settings)]  # as the evaluation draws
    panoramas = bootstrap.hdri_dir(settings)
    split = make_split(sorted(collection.store.view_counts()), view_cameras(collection.view_config),
                       sorted(p.name for p in panoramas.glob("*.exr")), args.queries, args.seed,
                       catalogue_ids=catalogue_ids)
    began = time.perf_counter()
    vectors = {name: embedder.embed(images) for name, images in split_images(split, collection, panoramas).items()}
    searcher = Searcher(collection, embedder, kind_holdouts=split.heldout_models)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": embedder.info.name,
               "index": str(settings.resolved_index_dir), "seed": args.seed, "queries": args.queries,
               "by_confident_score": {}}
    for score in SCORES:
        searcher.confident_score = score
        results["by_confident_score"][str(score)] = {
            name: _figures(searcher, split_outcomes(searcher, vectors[name], split.sets[name],
                                                    name == "heldout_models"))
            for name in split.sets}
    results["seconds"] = round(time.perf_counter() - began, 1)
    out.write_text(json.dumps(results, indent=1))
    for score, sets in results["by_confident_score"].items():
        print(score, json.dumps(sets))


def _figures(searcher: Searcher, outcomes: list) -> dict:
    summary = summarise(outcomes)
    right = [o for o in outcomes if o.ranked_models and o.ranked_models[0] == o.model_id]
    contradicted = [o for o in right if o.predicted_kind != searcher.models[o.model_id].seat_kind]
    return {"top1": round(summary["top1"], 3), "seat_kind": round(summary["seat_kind"], 3),
            "contradicted": round(len(contradicted) / max(len(outcomes), 1), 3)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="default bench/results/confident_score_<embedder>.json")
    return parser


if __name__ == "__main__":
    main()
