"""What ImageNet's classifier sees in seats: real photos' crops against the training renders, by seat kind.

Run: PHOTO2CAD_DATA_DIR=$PWD/data .venv/bin/python -m bench.imagenet_on_seats [--photos data/realphotos]
     [--queries data/training/finetune/queries] [--out bench/results/imagenet_on_seats.json]
A diagnostic behind index/kind_cues.py. Real: every labelled seat of the real-photo set cropped from its
labelled box as the service crops (index.scene.square_crop, 224 px) and classified by ImageNet's classifier
(models.imagenet_classifier: frozen Lite0 with its 1000-way top, registry weights). Renders: the randomised
renders the fine-tuned network was trained on (photo-like: HDRI backgrounds, lights, augmentation), read from
their cache (`photo2cad train-finetune` keeps each render's Lite0 activation before block 11; here the rest of
the same frozen Lite0 and its top classify them); each cached model's kind from the catalogue and the
training-shape manifests. Per seat kind: how many images, the mean probability of each class of
index.kind_cues.IMAGENET_KIND_CUES, their total, and the five classes of highest mean probability (index and,
for the table's classes, name). Writes the results with date, machine and load.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from bench.kind_probe import labelled_crops
from bench.service_path import machine, real_photo_parser, require_photos
from evaluation.real_photo_set import load_manifest
from index.kind_cues import IMAGENET_KIND_CUES

TRAINING_SHAPES = Path("training_shapes")


def by_kind(probabilities: np.ndarray, kinds: list[str]) -> dict:
    """probabilities (n, 1000) and the n images' kinds -> per kind the figures of the module docstring."""
    out = {}
    for kind in sorted(set(kinds)):
        mean = probabilities[np.array(kinds) == kind].mean(axis=0)
        cues = {IMAGENET_KIND_CUES[i][0]: round(float(mean[i]), 3) for i in IMAGENET_KIND_CUES}
        top = [{"class": int(i), "name": IMAGENET_KIND_CUES.get(int(i), ("",))[0], "mean": round(float(mean[i]), 3)}
               for i in np.argsort(-mean)[:5]]
        out[kind] = {"images": kinds.count(kind), "cue_classes": cues,
                     "cue_classes_total": round(float(sum(mean[i] for i in IMAGENET_KIND_CUES)), 3), "top5": top}
    return out


def real_crops(photos_dir: Path, classifier) -> dict:
    crops, kinds, _, _ = labelled_crops(load_manifest(), photos_dir, 224)
    return by_kind(classifier.probabilities(np.stack(crops)), kinds)


def model_kinds() -> dict[str, str]:
    """Model id -> seat kind over the catalogue and the training-shape manifests."""
    from app.bootstrap import ensure_catalogue
    from app.settings import Settings
    from models.training_data import shape_set_models

    kinds = {e.model_id: e.seat_kind for e in ensure_catalogue(Settings()) if e.seat_kind}
    for manifest in sorted(TRAINING_SHAPES.glob("*/manifest.json")):
        kinds |= {m.model_id: m.seat_kind for m in shape_set_models(manifest)}
    return kinds


def cached_renders(queries_dir: Path) -> dict:
    """The cached renders' activations through the rest of frozen Lite0 and its top, by kind."""
    from app.settings import Settings
    from models.trunk_classifier import ImagenetTop
    from models.weights import prepare_weights

    top = ImagenetTop(prepare_weights("efficientnet_lite0", Settings().weights_dir, progress=False), 11, 224)
    kinds = model_kinds()
    by_prefix = {hashlib.sha256(m.encode()).hexdigest()[:8]: m for m in kinds}
    probabilities, labels = [], []
    for path in sorted(queries_dir.glob("*.npz")):
        model = by_prefix.get(path.name[:8])
        if model is None:
            continue
        activations = np.load(path)["features"].astype(np.float32).reshape(-1, *top.model.input.shape[1:])
        probabilities.append(top.probabilities(activations))
        labels += [kinds[model]] * len(activations)
    return by_kind(np.concatenate(probabilities), labels) if labels else {}


def main() -> None:
    from app.settings import Settings
    from models.imagenet_classifier import ImagenetClassifier
    from models.weights import prepare_weights

    parser = real_photo_parser(__doc__, "bench/results/imagenet_on_seats.json")
    parser.add_argument("--queries", type=Path, default=Path("data/training/finetune/queries"))
    args = parser.parse_args()
    require_photos(parser, args.photos)
    if not args.queries.is_dir():
        parser.error(f"--queries: no render cache at {args.queries} (run `photo2cad train-finetune` first)")
    facts = machine()
    classifier = ImagenetClassifier(prepare_weights("efficientnet_lite0", Settings().weights_dir, progress=False))
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": facts,
              "real_crops": real_crops(args.photos, classifier), "training_renders": cached_renders(args.queries)}
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for part in ("real_crops", "training_renders"):
        for kind, row in report[part].items():
            print(part, kind, row["images"], row["cue_classes_total"], [(t["class"], t["mean"]) for t in row["top5"]])


if __name__ == "__main__":
    main()
