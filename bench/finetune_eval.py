"""Lite0 with fine-tuned top blocks (models.finetune, `photo2cad train-finetune`) against plain Lite0 retrieval,
on the real photos' labelled seats (bench.photo_heads_eval.labelled_crops: the service's crop of each box).

Per split (dev, test):
- plain Lite0: the crop's vector searched in the `efficientnet_lite0` index; seat kind by the service's
  mixture (retrieval vote + the index's kind classifier); view: the azimuth of the best match's pose;
- fine-tuned: the crop through the frozen trunk and the trained network; seat kind by its kind head, and
  by the kind of its nearest clean view; view: the azimuth of its nearest clean view (an index of every
  stored view of the Lite0 index, all 174 models, embedded by the network) and its view head's argmax
  over the index's view grid.
Also the training manifest's held-back validation (randomised renders of the training models against
their clean views, top-1 model) before (plain Lite0 pooled features) and after fine-tuning.

    python -m bench.finetune_eval --model data/models/lite0_finetune_b11 --cache data/training/finetune_b11 \
        [--out bench/results/finetune_photo_eval.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from app.settings import Settings
from bench.photo_heads_eval import _by_split, _kind_scores, _pose_azimuth, _view_scores, labelled_crops
from index.build import view_cameras
from index.collection import Collection
from index.search import Searcher
from models.adapter import BACKBONE
from models.finetune import clean_activations, load_finetuned
from models.train_adapter import embed_rows
from models.transfer import build_embedder
from models.weights import prepare_weights
from render.cameras import camera_to_angles


def main() -> None:
    args = _arguments()
    settings = Settings()
    began = time.time()
    seats = labelled_crops(settings)
    index = args.lite0_index or settings.data_dir / "index" / "efficientnet_lite0"
    collection = Collection.open(index)
    backbone = build_embedder(BACKBONE, settings.weights_dir)
    searcher = Searcher(collection, backbone)
    crops = np.stack([s["crop"] for s in seats])
    vectors = backbone.embed(crops)
    answers = searcher.search_embeddings(vectors, 50)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "seats": len(seats),
               "plain lite0": {"kind (service mixture)": _kind_scores(searcher, searcher.kind_classifier, vectors,
                                                                      answers, seats),
                               "view (best match's pose)": _view_scores([_pose_azimuth(a) for a in answers], seats)}}
    weights = prepare_weights(BACKBONE, settings.weights_dir, progress=False)
    results["fine-tuned"] = finetuned_scores(args.model, weights, index, collection, backbone.prepare(crops),
                                             args.cache / "clean", seats)
    manifest = json.loads((args.model / "manifest.json").read_text())
    results["validation (randomised renders vs clean views)"] = {
        "before (plain lite0)": manifest["metrics"]["val_backbone_only"], "after": manifest["metrics"]["val"]}
    results["training"] = {k: manifest[k] for k in ("epochs_done", "training_seconds", "finished")}
    results["seconds"] = round(time.time() - began, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


def finetuned_scores(folder: Path, weights: Path, index: Path, collection: Collection, prepared: np.ndarray,
                     cache: Path, seats: list[dict]) -> dict:
    """Kind and view figures of the network in `folder` on prepared crops ((n, S, S, 3) float32)."""
    trunk, model, config = load_finetuned(folder, weights)
    table = collection.store.view_table()
    gallery = embed_rows(model, clean_activations(index, table, trunk, cache).features)
    outputs = _outputs(model, trunk.embed_prepared(prepared))
    nearest = (outputs["embedding"] @ gallery.T).argmax(axis=1)
    model_kind = {r.model_id: r.seat_kind for r in collection.store.list_models()}
    grid = view_cameras(collection.view_config)
    head_kinds = np.array(config.seat_kinds)[outputs["kind"].argmax(axis=1)]
    return {"kind (its kind head)": _kind_right(head_kinds, seats),
            "kind (its nearest clean view's model)": _kind_right([model_kind[m] for m in table.model_ids[nearest]],
                                                                 seats),
            "view (its nearest clean view)": _view_scores(list(camera_to_angles(table.cameras[nearest])[1]), seats),
            "view (its view head)": _view_scores(list(camera_to_angles(grid[outputs["view"].argmax(axis=1)])[1]),
                                                 seats),
            "gallery_views": len(gallery), "first_block": config.extra["first_block"]}


def _outputs(model, rows: np.ndarray, batch: int = 64) -> dict[str, np.ndarray]:
    parts = [{k: v.numpy() for k, v in model(rows[i:i + batch].astype(np.float32), training=False).items()}
             for i in range(0, len(rows), batch)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _kind_right(kinds, seats: list[dict]) -> dict:
    right = np.array([k == s["kind"] for k, s in zip(kinds, seats)], float)
    return _by_split(right, seats, lambda r: {"kind": round(float(r.mean()), 3), "n": len(r)})


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="folder of a trained models.finetune network")
    parser.add_argument("--cache", type=Path, required=True, help="its activation cache (clean views reused)")
    parser.add_argument("--lite0-index", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("bench/results/finetune_photo_eval.json"))
    return parser.parse_args()


if __name__ == "__main__":
    main()
