"""Seat-kind ridge heads on the lite0_finetuned embedding, fitted on its training set's randomised renders,
scored on the real photos through the service path (detector + per-seat search).

Asks whether the office chairs read as chairs can be fixed without retraining the network: the configured
network embeds the cached training activations (`photo2cad train-finetune`'s set with the given extra shape
sets, held-out models and panoramas left out as in training), a class-balanced ridge (index.kinds) is fitted
on them, with and without the shapes of `--without` (e.g. the swivel chairs), and replaces the network's own
seat-kind head in the searcher. The training cache must exist (it does after a train-finetune run).

    PHOTO2CAD_EMBEDDER=lite0_finetuned python -m bench.finetuned_kind_ridge \
        --extra-shapes training_shapes/infinigen/manifest.json --extra-shapes training_shapes/swivel/manifest.json \
        --without swivel/ --out bench/results/finetuned_kind_ridge.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from app.bootstrap import load_detector, load_embedder
from app.cli import _training_holdouts
from app.cli import _parser as cli_parser
from app.cli_adapter import feature_config
from app.finetune import finetune_training_data
from app.settings import Settings
from evaluation.real_photo_eval import evaluate_answerer
from evaluation.real_photo_report import photo_answerer
from evaluation.real_photo_set import load_manifest
from index.collection import Collection
from index.kinds import fit_kind_classifier
from index.search import Searcher
from models.train_adapter import embed_rows


def main() -> None:
    args = _arguments()
    settings = Settings()
    began = time.time()
    embedder = load_embedder(settings)
    skip = _training_holdouts(settings, False)
    features = feature_config(cli_parser().parse_args(["train-finetune"]))
    data = finetune_training_data(settings, embedder.config.extra["first_block"], features,
                                  settings.data_dir / "index" / "efficientnet_lite0",
                                  settings.data_dir / "training" / "finetune", skip.models, skip.panoramas,
                                  skip.split_seed, False, args.extra_shapes)
    vectors = embed_rows(embedder._network, data.queries.features)  # unit rows: its embedding layer normalises
    row_models = np.array(data.queries.model_ids)[data.queries.model]
    kinds = dict(zip(data.queries.model_ids, data.kinds))
    left_out = np.array([any(m.startswith(p) for p in args.without) for m in row_models], dtype=bool)
    collection = Collection.open(settings.resolved_index_dir)
    searcher = Searcher(collection, embedder)
    detector = load_detector(settings)
    photos = load_manifest()
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": embedder.info.weights,
               "rows": int(len(row_models)), "left_out_rows": int(left_out.sum()), "heads": {}}

    def score(name: str) -> None:
        scored = evaluate_answerer(photo_answerer(searcher, detector), photos, settings.data_dir / "realphotos", True)
        results["heads"][name] = {split: {"kind_main": scored[split]["main"]["kind"],
                                          "kind_per_seat": scored[split]["seats"]["kind"]}
                                  for split in ("dev", "test", "all")}
        results["heads"][name]["by_kind"] = scored["all"]["main"]["by_kind"]
        print(name, json.dumps({s: results["heads"][name][s] for s in ("dev", "test")}), flush=True)

    score("the network's own head")
    for l2 in args.l2:
        subsets = (("without " + ",".join(args.without), ~left_out), ("with all shapes", np.ones_like(left_out)))
        for label, keep in subsets:
            searcher.kind_classifier = fit_kind_classifier(vectors[keep], row_models[keep], kinds, l2=l2)
            score(f"ridge l2 {l2}, {label}")
    results["seconds"] = round(time.time() - began, 1)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra-shapes", type=Path, action="append", default=[])
    parser.add_argument("--without", action="append", default=[], help="model id prefix of shapes to leave out")
    parser.add_argument("--l2", type=float, nargs="+", default=[1.0, 10.0, 100.0])
    parser.add_argument("--out", type=Path)
    return parser.parse_args()


if __name__ == "__main__":
    main()
