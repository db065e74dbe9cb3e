"""Seat-kind and viewpoint heads fitted on photo-like features, measured on the real photos' labelled seats.

For every labelled seat of the real-photo set (evaluation/realphotos; dev and test splits), the service's
crop of its labelled box (index.scene.square_crop) is embedded by EfficientNet-Lite0 and searched in the
Lite0 index. Compared, per split:
- seat kind: the service's mixture (retrieval vote + a kind classifier, confident top-1 rule) with the
  classifier fitted on the index's clean views (today's) or on Lite0 features of randomised renders
  (app.adapter.photo_training_set: the catalogue's training models, optionally plus extra shapes);
- view: the azimuth of the best match's pose (today's) against a ridge head over azimuth sectors fitted on
  the same randomised features, and the two fused (the pose's azimuth kept unless the head puts it in the
  opposite half with at least `--flip-margin` more probability there).
Nothing here is held-out data of the synthetic evaluation: training models and panoramas are those of
`photo2cad train-adapter` (evaluation.plan.training_holdouts).

    python -m bench.photo_heads_eval --extra-shapes training_shapes/infinigen/manifest.json \
        [--out bench/results/photo_heads.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from app.adapter import photo_training_set
from app.cli import _parser as cli_parser
from app.cli import _training_holdouts
from app.cli_adapter import feature_config
from app.settings import Settings
from evaluation.real_photo_eval import FLIP_DEG, VIEW_TOLERANCE_DEG, azimuth_error_deg, photo_bytes
from evaluation.real_photo_set import load_manifest
from index.collection import Collection
from index.kinds import KindClassifier, fit_kind_classifier
from index.scene import square_crop
from index.search import Searcher
from models.adapter import BACKBONE
from models.photo import load_photo
from models.transfer import build_embedder
from render.cameras import camera_to_angles

SECTORS = 8


def main() -> None:
    args = _arguments()
    settings = Settings()
    began = time.time()
    seats = labelled_crops(settings)
    index = settings.data_dir / "index" / "efficientnet_lite0"
    collection = Collection.open(index)
    backbone = build_embedder(BACKBONE, settings.weights_dir)
    searcher = Searcher(collection, backbone)
    vectors = backbone.embed(np.stack([s["crop"] for s in seats]))
    skip = _training_holdouts(settings, False)
    features = feature_config(cli_parser().parse_args(["train-adapter"]))
    cache = settings.data_dir / "training" / "adapter_features"
    sets = {"catalogue": photo_training_set(settings, features, index, cache, skip.models, skip.panoramas,
                                            skip.split_seed, progress=False)}
    if args.extra_shapes:
        sets["catalogue+extra"] = photo_training_set(settings, features, index, cache, skip.models, skip.panoramas,
                                                     skip.split_seed, False, args.extra_shapes, args.extra_queries)
    answers = searcher.search_embeddings(vectors, 50)
    views = model_views(collection)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "seats": len(seats),
               "kind": {"clean views (today)": _kind_scores(searcher, searcher.kind_classifier, vectors, answers,
                                                            seats)},
               "view": {"retrieval (today)": _view_scores([_pose_azimuth(a) for a in answers], seats),
                        "retrieval, quantised to the sectors": _view_scores(
                            [quantised(_pose_azimuth(a)) for a in answers], seats)}}
    for name, folder in (a.split("=", 1) for a in args.adapter):
        results[f"adapter {name}"] = _adapter_scores(Path(folder), backbone, index, vectors, seats, settings)
    for name, data in sets.items():
        model_ids = np.array(data.queries.model_ids)[data.queries.model]
        kinds = dict(zip(data.queries.model_ids, data.kinds))
        for l2 in args.l2:
            classifier = fit_kind_classifier(data.queries.features, model_ids, kinds, l2=l2)
            results["kind"][f"randomised {name}, l2 {l2}"] = _kind_scores(searcher, classifier, vectors, answers,
                                                                          seats)
            head = fit_sector_head(data.queries.features, data.queries.cameras, l2)
            probabilities = head.probabilities(vectors)
            results["view"][f"head {name}, l2 {l2}"] = _view_scores(
                list(np.argmax(probabilities, axis=1) * 360.0 / SECTORS), seats)
            for alpha in args.alpha:
                for temperature in args.temperature:
                    posterior = [posterior_azimuth(a.matches[0].record.model_id, q, p, views, alpha, temperature)
                                 for a, q, p in zip(answers, vectors, probabilities)]
                    results["view"][f"top model's views x head^{alpha}, T {temperature}, {name}, l2 {l2}"] = (
                        _view_scores(posterior, seats))
            for margin in args.flip_margin:
                fused = [fused_azimuth(_pose_azimuth(a), p, margin) for a, p in zip(answers, probabilities)]
                results["view"][f"retrieval + head {name}, l2 {l2}, margin {margin}"] = _view_scores(fused, seats)
        results[f"training set {name}"] = {"queries": len(data.queries.features),
                                           "models": len(data.queries.model_ids)}
    results["seconds"] = round(time.time() - began, 1)
    args.out.write_text(json.dumps(results, indent=1))
    for part in ("kind", "view"):
        for name, scores in results[part].items():
            print(part, name, json.dumps(scores))
    for name in (k for k in results if k.startswith("adapter ")):
        for part, scores in results[name].items():
            print(name, part, json.dumps(scores))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extra-shapes", type=Path, action="append", default=[])
    parser.add_argument("--extra-queries", type=int, default=24)
    parser.add_argument("--l2", type=float, action="append", default=None)
    parser.add_argument("--flip-margin", type=float, action="append", default=None)
    parser.add_argument("--adapter", action="append", default=[], help="name=folder of a trained lite0_adapter")
    parser.add_argument("--alpha", type=float, action="append", default=None)
    parser.add_argument("--temperature", type=float, action="append", default=None)
    parser.add_argument("--out", type=Path, default=Path("bench/results/photo_heads.json"))
    args = parser.parse_args()
    args.l2 = args.l2 or [1.0]
    args.flip_margin = args.flip_margin or [0.0, 0.2]
    args.alpha = args.alpha or [0.0, 1.0, 2.0, 4.0, float("inf")]
    args.temperature = args.temperature or [0.02, 0.05, 0.1]
    return args


def labelled_crops(settings: Settings) -> list[dict]:
    """Every labelled seat: split, kind, view azimuth (None: not scored), symmetry and the service's crop."""
    seats = []
    for photo in load_manifest():
        loaded = load_photo(photo_bytes(settings.data_dir / "realphotos", photo), 1280)
        for seat in photo.seats:
            box = tuple(v / loaded.scale for v in seat.box)
            scored = seat.azimuth_deg is not None and seat.symmetry != "any"
            seats.append({"split": photo.split, "kind": seat.kind, "symmetry": seat.symmetry,
                          "azimuth": seat.azimuth_deg if scored else None,
                          "crop": square_crop(loaded.image, box, 224)})
    return seats


def fit_sector_head(features: np.ndarray, cameras: np.ndarray, l2: float) -> KindClassifier:
    """Ridge one-vs-rest over SECTORS azimuth sectors (sector i centred on i * 360 / SECTORS deg, as the
    real photos' labelled views are), through index.kinds' class-balanced fit with the sectors as classes."""
    azimuths = camera_to_angles(cameras)[1]
    sectors = np.round(azimuths / (360.0 / SECTORS)).astype(int) % SECTORS
    labels = {f"s{i}": f"s{i}" for i in range(SECTORS)}
    return fit_kind_classifier(features, np.array([f"s{s}" for s in sectors]), labels, l2=l2)


def fused_azimuth(pose_azimuth: float, probabilities: np.ndarray, margin: float) -> float:
    """The pose's azimuth, turned by 180 deg when the head's probability of the opposite half-circle
    exceeds that of the pose's half by more than margin. probabilities: (SECTORS,) over sectors
    centred on i * 360 / SECTORS deg, in fit_sector_head's class order (s0, s1, ...)."""
    centres = np.arange(SECTORS) * 360.0 / SECTORS
    order = np.argsort([f"s{i}" for i in range(SECTORS)])  # classes are sorted by name
    p = np.empty(SECTORS)
    p[order] = probabilities
    distance = np.abs((centres - pose_azimuth + 180.0) % 360.0 - 180.0)
    near, far = p[distance < 90.0].sum(), p[distance > 90.0].sum()
    return (pose_azimuth + 180.0) % 360.0 if far > near + margin else pose_azimuth


def quantised(azimuth_deg: float) -> float:
    """The azimuth moved to the nearest sector centre (the labels' resolution), for a like-for-like
    comparison with a sector head."""
    return float(np.round(azimuth_deg / (360.0 / SECTORS)) * (360.0 / SECTORS) % 360.0)


def _adapter_scores(folder: Path, backbone, lite0_index: Path, vectors: np.ndarray, seats: list[dict],
                    settings: Settings) -> dict:
    """A trained adapter on the same crops: its retrieval (index derived from the Lite0 one), its own kind
    head in the service's mixture, and its view head's most probable grid camera."""
    import tempfile

    from app.adapter import derive_adapter_index
    from index.build import view_cameras
    from models.adapter import AdapterEmbedder

    embedder = AdapterEmbedder(folder, backbone)
    with tempfile.TemporaryDirectory() as tmp:
        collection = derive_adapter_index(lite0_index, Path(tmp) / "index", embedder, "Flat", {})
        searcher = Searcher(collection, embedder)
        adapted = embedder.adapt(vectors)
        answers = searcher.search_embeddings(adapted, 50)
        weights, _ = embedder.view_head()
        grid = camera_to_angles(view_cameras(settings.view_config()))[1]
        head = grid[np.argmax(adapted @ weights[:-1] + weights[-1], axis=1)]
        out = {"kind": _kind_scores(searcher, searcher.kind_classifier, adapted, answers, seats),
               "view retrieval": _view_scores([_pose_azimuth(a) for a in answers], seats),
               "view retrieval, quantised": _view_scores([quantised(_pose_azimuth(a)) for a in answers], seats),
               "view head": _view_scores(list(head), seats),
               "view head, quantised": _view_scores([quantised(a) for a in head], seats)}
        collection.close()
    return out


def model_views(collection: Collection) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """model id -> (azimuths (v,) deg, vectors (v, d) float32) of its stored views."""
    table = collection.store.view_table()
    vectors = np.concatenate([v for _, v in collection.store.embeddings()])
    azimuths = camera_to_angles(table.cameras)[1]
    return {m: (azimuths[table.model_ids == m], vectors[table.model_ids == m]) for m in np.unique(table.model_ids)}


def posterior_azimuth(model_id: str, query: np.ndarray, probabilities: np.ndarray, views: dict, alpha: float,
                      temperature: float = 0.02) -> float:
    """Azimuth of the top model's view maximising exp((sim - max sim) / temperature) x p_head(sector)^alpha
    over all its stored views (alpha 0: its best-matching view; alpha inf: its best-matching view in the
    head's most probable sector)."""
    azimuths, vectors = views[model_id]
    sims = vectors @ query
    sectors = np.round(azimuths / (360.0 / SECTORS)).astype(int) % SECTORS
    if np.isinf(alpha):
        inside = sectors == np.argmax(probabilities)
        return float(azimuths[inside][np.argmax(sims[inside])]) if inside.any() else float(azimuths[np.argmax(sims)])
    log_weight = (sims - sims.max()) / temperature + alpha * np.log(probabilities[sectors] + 1e-9)
    return float(azimuths[np.argmax(log_weight)])


def _pose_azimuth(answer) -> float:
    return float(camera_to_angles(np.asarray(answer.matches[0].pose.camera))[1])


def _kind_scores(searcher: Searcher, classifier: KindClassifier | None, vectors: np.ndarray, answers: list,
                 seats: list[dict]) -> dict:
    searcher.kind_classifier = classifier
    right = []
    for answer, classified, seat in zip(answers, searcher.classify(vectors), seats):
        kinds = searcher.seat_kinds(answer.matches, classified)
        right.append(bool(kinds) and kinds[0][0] == seat["kind"])
    return _by_split(np.array(right, float), seats, lambda r: {"kind": round(float(r.mean()), 3), "n": len(r)})


def _view_scores(azimuths: list[float], seats: list[dict]) -> dict:
    errors = np.array([np.nan if s["azimuth"] is None else azimuth_error_deg(s["azimuth"], a, s["symmetry"])
                       for a, s in zip(azimuths, seats)])

    def figures(e: np.ndarray) -> dict:
        e = e[~np.isnan(e)]
        return {"within_45": round(float(np.mean(e <= VIEW_TOLERANCE_DEG)), 3),
                "flips": round(float(np.mean(e > FLIP_DEG)), 3), "n": len(e)}

    return _by_split(errors, seats, figures)


def _by_split(values: np.ndarray, seats: list[dict], summary) -> dict:
    splits = np.array([s["split"] for s in seats])
    return {split: summary(values if split == "all" else values[splits == split]) for split in ("dev", "test", "all")}


if __name__ == "__main__":
    main()
