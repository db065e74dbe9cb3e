"""Calibrated pose error bars: quantile fits on synthetic data cover what they claim, artefact round trip."""

import numpy as np
import pytest

from index.calibration import (
    FEATURES,
    CalibrationError,
    PoseCalibration,
    coverage,
    cross_validated_coverage,
    fit_quantile,
    pose_features,
    predict_quantile,
)
from index.pose import PoseEstimate, PoseMode
from index.symmetry import Symmetry
from render.cameras import angles_to_camera


def synthetic_answers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features like the searcher's and errors whose scale grows with the spread and falls with the
    mode probability, with heavy-tailed noise (a few flips). Returns (n, p) features, (n,) degrees."""
    rng = np.random.default_rng(seed)
    spread, probability = rng.uniform(np.log(4), np.log(40), n), rng.uniform(0.3, 1.0, n)
    score, gap = rng.uniform(0.5, 0.95, n), rng.uniform(0.0, 0.2, n)
    features = np.column_stack([np.ones(n), spread, probability, 1 - probability, score, gap,
                                rng.random(n) < 0.1])
    scale = np.exp(spread) * (2.0 - probability)
    errors = scale * rng.lognormal(0.0, 0.6, n)
    flips = rng.random(n) < 0.15 * (1.2 - probability)
    errors[flips] = rng.uniform(90, 180, flips.sum())
    return features, np.clip(errors, 0, 180)


@pytest.mark.parametrize("quantile", [0.68, 0.90])
def test_a_fitted_quantile_covers_that_share_of_fresh_answers(quantile):
    features, errors = synthetic_answers(600, seed=0)
    beta = fit_quantile(features, errors, quantile)
    fresh_features, fresh_errors = synthetic_answers(4000, seed=1)
    assert coverage(fresh_errors, predict_quantile(fresh_features, beta)) == pytest.approx(quantile, abs=0.04)
    assert cross_validated_coverage(features, errors, quantile) == pytest.approx(quantile, abs=0.06)


def test_the_bound_follows_the_features():
    features, errors = synthetic_answers(600, seed=0)
    beta = fit_quantile(features, errors, 0.68)
    tight, loose = features[0].copy(), features[0].copy()
    tight[1], loose[1] = np.log(4), np.log(40)
    assert predict_quantile(tight, beta) < 0.5 * predict_quantile(loose, beta)


def test_a_constant_bound_would_miss_the_target_where_the_fit_does_not():
    """Against a single error bar for every answer: right on average, wrong per spread."""
    features, errors = synthetic_answers(4000, seed=2)
    beta = fit_quantile(*synthetic_answers(600, seed=0), 0.68)
    small = features[:, 1] < np.log(8)
    constant = np.quantile(errors, 0.68)
    assert coverage(errors[small], np.full(small.sum(), constant)) > 0.85
    assert coverage(errors[small], predict_quantile(features[small], beta)) == pytest.approx(0.68, abs=0.07)


def _pose() -> PoseEstimate:
    camera = angles_to_camera(60.0, 20.0)
    behind = PoseMode(angles_to_camera(60.0, 200.0), 60.0, 200.0, 0.3, 5.0)
    return PoseEstimate(camera, 60.0, 20.0, 8.0, 0.7, 6.0, (behind,), Symmetry(rotation_order=2))


def test_pose_features_of_an_answer():
    features = pose_features(_pose(), score=0.8, score_gap=0.5, view_spacing_deg=16.0)
    assert len(features) == len(FEATURES)
    np.testing.assert_allclose(features, [1.0, np.log(8.0), 0.7, 0.3, 0.8, 0.2, 1.0])


def test_calibration_round_trips_and_is_applied(tmp_path):
    features, errors = synthetic_answers(300, seed=0)
    calibration = PoseCalibration({"0.68": fit_quantile(features, errors, 0.68).tolist(),
                                   "0.9": fit_quantile(features, errors, 0.9).tolist()},
                                  {"embedder": "fake", "data": "synthetic"})
    calibration.save(tmp_path / "fake.json")
    loaded = PoseCalibration.load(tmp_path / "fake.json", "fake")
    pose = loaded.apply(_pose(), 0.8, 0.05, 16.0)
    assert pose.calibrated and 0 < pose.expected_error_deg < pose.error_90_deg <= 180
    unrefined = loaded.apply(_pose(), 0.8, 0.05, 16.0, refined=True)  # no refined fit: unchanged
    assert not unrefined.calibrated and unrefined.expected_error_deg == 8.0
    with pytest.raises(CalibrationError, match="embedder"):
        PoseCalibration.load(tmp_path / "fake.json", "scratch_cnn")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(CalibrationError):
        PoseCalibration.load(tmp_path / "bad.json")
