"""Fitting the pose error-bar calibration on held-out data that no test set uses, and its coverage.

Calibration queries: models the evaluation does not hold out, at random off-grid cameras drawn with a
seed of their own (never the evaluation's cameras), two thirds composited photo-like on the training
panoramas (the evaluation's test panoramas are never used), one third on white under the index's light (as the evaluation's sets). Each
query is searched with the uncalibrated searcher; the top-1 result's pose features and its angular
error against the true camera (plain and symmetric, the true model's symmetry) make one row.
Unseen-model queries (a share `unseen_share` of them): the query's own model is left out of its answer,
so the top-1 is another catalogue model, as for a photographed seat the catalogue lacks (nearly every
real photograph); its pose, in the shared canonical frame (up +Y, front +Z), is scored against the true
camera all the same. Without them the bars are fitted only on seats the catalogue holds, and are too
narrow for the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.splits import Query, compose, holdouts, offgrid_cameras, render_queries
from index.build import view_cameras
from index.calibration import (
    FEATURES,
    QUANTILES,
    PoseCalibration,
    coverage,
    cross_validated_coverage,
    fit_quantile,
    pose_features,
    predict_quantile,
)
from index.search import Searcher
from index.symmetry import NO_SYMMETRY, symmetric_angular_error_deg
from render.cameras import angular_error_deg

PHOTO_SHARE = 2 / 3


@dataclass
class CalibrationRows:
    """features (n, len(FEATURES)); plain and symmetric errors (n,) degrees; the queries' set names
    ("photo" or "white", "+unseen" when the own model was left out)."""

    features: np.ndarray
    plain_deg: np.ndarray
    symmetric_deg: np.ndarray
    kinds: list[str]


def calibration_queries(model_ids: list[str], grid: np.ndarray, panoramas: list[str], n: int, seed: int,
                        evaluation_seed: int = 0, polar_range_deg: tuple[float, float] = (20.0, 90.0),
                        catalogue_ids: list[str] | None = None) -> list[Query]:
    """n queries of the models and panoramas the evaluation (seeded `evaluation_seed`, hold-outs drawn
    from catalogue_ids, default model_ids) does not hold out for testing; grid: the index's cameras
    (m, 3), avoided by 2 deg like the evaluation's."""
    heldout, train_panoramas, _ = holdouts(sorted(catalogue_ids or model_ids), sorted(panoramas),
                                           evaluation_seed)
    kept = sorted(set(model_ids) - set(heldout))
    rng = np.random.default_rng(seed)
    models = rng.choice(kept, size=n, replace=True)
    cameras = offgrid_cameras(n, grid, polar_range_deg, rng)
    photo = rng.random(n) < PHOTO_SHARE
    return [Query(str(m), tuple(float(v) for v in c), str(rng.choice(train_panoramas)) if p else None,
                  int(rng.integers(2**31))) for m, c, p in zip(models, cameras, photo)]


def query_images(searcher: Searcher, queries: list[Query], panoramas_dir: Path, lighting_seed: int,
                 workers: int = 2) -> np.ndarray:
    """The queries rendered at the index's size and composed: photo-like ones under seeded random
    lighting, white ones under the index's light (as the evaluation's sets). Returns (n, S, S, 3) uint8."""
    size = searcher.collection.view_config.size_px
    rgba = np.zeros((len(queries), size, size, 4), np.uint8)
    for photo in (True, False):
        rows = [i for i, q in enumerate(queries) if (q.background is not None) == photo]
        if rows:
            rgba[rows] = render_queries([queries[i] for i in rows], searcher.models, size, workers,
                                        lighting_seed=lighting_seed if photo else None)
    return compose(queries, rgba, panoramas_dir)


def unseen_queries(n: int, share: float, seed: int) -> np.ndarray:
    """Which of n calibration queries leave their own model out: (n,) bool, a `share` of them, drawn
    with a generator of its own so that the queries themselves do not change with the share."""
    return np.random.default_rng([seed, 1]).random(n) < share


def calibration_rows(searcher: Searcher, images: np.ndarray, queries: list[Query], batch: int = 32,
                     unseen: np.ndarray | None = None) -> CalibrationRows:
    """Search every image (n, H, W, 3) uint8 with `searcher` (uncalibrated) and collect the rows;
    unseen (n,) bool: the queries whose own model is left out of the answer (default none)."""
    unseen = np.zeros(len(queries), bool) if unseen is None else np.asarray(unseen, bool)
    features, plain, symmetric = [], [], []
    for start in range(0, len(queries), batch):
        vectors, mirrored = searcher.embed_with_mirror(images[start:start + batch])  # as the service does
        answers = searcher.search_embeddings(vectors, top_k=3, mirrored=mirrored)
        for i, (query, answer) in enumerate(zip(queries[start:start + batch], answers), start):
            top = next((m for m in answer.matches if not unseen[i] or m.record.model_id != query.model_id), None)
            if top is None:
                raise ValueError("an unseen-model query needs an index of at least two models")
            true = np.asarray(query.camera)
            features.append(pose_features(top.pose, top.score, top.score_gap, searcher.view_spacing_deg))
            plain.append(float(angular_error_deg(true, top.pose.camera)))
            truth_symmetry = searcher.symmetries.get(query.model_id) or NO_SYMMETRY
            symmetric.append(symmetric_angular_error_deg(true, top.pose.camera, truth_symmetry))
    kinds = [("photo" if q.background else "white") + ("+unseen" if u else "") for q, u in zip(queries, unseen)]
    return CalibrationRows(np.array(features), np.array(plain), np.array(symmetric), kinds)


def fit_calibration(rows: CalibrationRows, manifest: dict) -> PoseCalibration:
    """Quantile fits (QUANTILES) on the symmetric errors; the manifest gets the in-sample and 5-fold
    cross-validated coverage of each quantile."""
    coefficients, figures = {}, {}
    for q in QUANTILES:
        beta = fit_quantile(rows.features, rows.symmetric_deg, q)
        coefficients[f"{q:g}"] = [round(float(b), 6) for b in beta]
        figures[f"{q:g}"] = {
            "coverage_in_sample": coverage(rows.symmetric_deg, predict_quantile(rows.features, beta)),
            "coverage_5_fold": cross_validated_coverage(rows.features, rows.symmetric_deg, q)}
    manifest = {**manifest, "features": list(FEATURES), "rows": len(rows.plain_deg),
                "fitted_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "fit": figures,
                "error": "symmetric angular error of the top-1 pose (index.symmetry), degrees"}
    return PoseCalibration(coefficients, manifest)


def run_calibration(searcher: Searcher, panoramas_dir: Path, n_queries: int, seed: int,
                    evaluation_seed: int = 0, workers: int = 2, catalogue_ids: list[str] | None = None,
                    unseen_share: float = 0.0) -> tuple[PoseCalibration, CalibrationRows]:
    """Render and search n_queries calibration queries with the (uncalibrated) searcher, a share
    unseen_share of them with their own model left out, fit, and return the calibration (manifest:
    embedder, index, data, config, fit figures) and its rows."""
    config = searcher.collection.view_config
    panoramas = sorted(p.name for p in Path(panoramas_dir).glob("*.exr"))
    queries = calibration_queries(sorted(searcher.models), view_cameras(config), panoramas, n_queries, seed,
                                  evaluation_seed, (config.polar_min_deg, config.polar_max_deg), catalogue_ids)
    unseen = unseen_queries(len(queries), unseen_share, seed)
    rows = calibration_rows(searcher, query_images(searcher, queries, panoramas_dir, seed, workers), queries,
                            unseen=unseen)
    manifest = {"embedder": searcher.collection.manifest["embedder"]["name"],
                "embedder_info": searcher.collection.manifest["embedder"],
                "views": searcher.collection.manifest["views"],
                "index_counts": searcher.collection.manifest.get("counts"),
                "data": {"queries": n_queries, "seed": seed, "evaluation_seed": evaluation_seed,
                         "photo_share": PHOTO_SHARE,
                         "photo_like": int(sum(k.startswith("photo") for k in rows.kinds)),
                         "unseen_share": unseen_share, "unseen_model": int(unseen.sum()),
                         "panoramas": sorted({q.background for q in queries if q.background}),
                         "models": len({q.model_id for q in queries}),
                         "what": "off-grid cameras (own seed) of the models the evaluation does not hold "
                                 "out, on its training panoramas (never its test ones) or white; unseen_model "
                                 "of them answered with their own model left out"}}
    return fit_calibration(rows, manifest), rows
