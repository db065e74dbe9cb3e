"""Calibrated pose error bars: quantiles of the angular error given what an answer knows.

Features of one result's pose (all known at answer time): the log of the uncalibrated spread (the
headline mode's view spread, floored at half the view spacing), the probability of the headline mode,
the mass left to the alternatives, the model's score, its lead over the next model, and whether its
azimuth is ambiguous by symmetry. For each quantile q (0.68, 0.90) a linear quantile regression of
log(1 + error_deg) on these features is fitted (pinball loss, solved as a linear programme), so that
a fraction q of held-out answers lie within exp(prediction) - 1 degrees. The artefact is a small JSON
file holding the coefficients with a manifest (data, config, date, fit figures); the service loads it
once. Errors are the symmetric ones (index.symmetry): for a round stool any azimuth is right.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linprog

from index.pose import PoseEstimate

FEATURES = ("intercept", "log_spread", "mode_probability", "alternatives_mass", "score", "score_gap",
            "azimuth_ambiguous")
QUANTILES = (0.68, 0.90)
SHIPPED_DIR = Path(__file__).resolve().parent / "calibrations"  # <embedder name>.json, committed
MAX_ERROR_DEG = 180.0


class CalibrationError(ValueError):
    """A calibration artefact that cannot be read or does not fit this index's embedder."""


def pose_features(pose: PoseEstimate, score: float, score_gap: float, view_spacing_deg: float,
                  ) -> np.ndarray:
    """The FEATURES of one result's (uncalibrated) pose. Returns (len(FEATURES),) float64."""
    spread = max(pose.spread_deg, view_spacing_deg / 2.0, 0.5)
    alternatives = sum(m.probability for m in pose.alternatives)
    ambiguous = float(pose.symmetry.azimuth_ambiguous)
    return np.array([1.0, np.log(spread), pose.probability, alternatives, score, min(score_gap, 0.2),
                     ambiguous])


def fit_quantile(features: np.ndarray, errors_deg: np.ndarray, quantile: float) -> np.ndarray:
    """Linear quantile regression of log(1 + error) on features (n, p) (first column 1): minimises the
    pinball loss exactly (a linear programme). errors_deg (n,). Returns coefficients (p,) float64."""
    x = np.asarray(features, dtype=np.float64)
    y = np.log1p(np.asarray(errors_deg, dtype=np.float64))
    n, p = x.shape
    # variables: beta+ (p), beta- (p), u+ (n), u- (n); x beta + u+ - u- = y
    cost = np.concatenate([np.zeros(2 * p), np.full(n, quantile), np.full(n, 1.0 - quantile)])
    equality = np.hstack([x, -x, np.eye(n), -np.eye(n)])
    result = linprog(cost, A_eq=equality, b_eq=y, bounds=(0, None), method="highs")
    if not result.success:
        raise CalibrationError(f"quantile regression failed: {result.message}")
    return result.x[:p] - result.x[p:2 * p]


def predict_quantile(features: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """Error quantile in degrees for features (..., p). Returns (...) float64 in [0, 180]."""
    return np.clip(np.expm1(np.asarray(features) @ coefficients), 0.0, MAX_ERROR_DEG)


def coverage(errors_deg: np.ndarray, bounds_deg: np.ndarray) -> float:
    """Fraction of answers whose error (n,) lies within its bound (n,); nan for none."""
    errors = np.asarray(errors_deg, dtype=np.float64)
    return float(np.mean(errors <= np.asarray(bounds_deg))) if len(errors) else float("nan")


def cross_validated_coverage(features: np.ndarray, errors_deg: np.ndarray, quantile: float, folds: int = 5,
                             seed: int = 0) -> float:
    """Coverage of the quantile fit on data it was not fitted on (k-fold), features (n, p), errors (n,)."""
    fold = np.random.default_rng(seed).permutation(len(errors_deg)) % folds
    bounds = np.empty(len(errors_deg))
    for k in range(folds):
        beta = fit_quantile(features[fold != k], errors_deg[fold != k], quantile)
        bounds[fold == k] = predict_quantile(features[fold == k], beta)
    return coverage(errors_deg, bounds)


@dataclass
class PoseCalibration:
    """Coefficients per quantile (keys "0.68", "0.9"; "refined:0.68" ... for refined poses) and the
    manifest saying how they were fitted (embedder, data, config, figures)."""

    coefficients: dict[str, list[float]]
    manifest: dict

    def bound(self, features: np.ndarray, quantile: float, refined: bool = False) -> float | None:
        """The error quantile (degrees) for one feature row, or None if not fitted."""
        key = f"{'refined:' if refined else ''}{quantile:g}"
        beta = self.coefficients.get(key)
        return None if beta is None else float(predict_quantile(features, np.array(beta)))

    def apply(self, pose: PoseEstimate, score: float, score_gap: float, view_spacing_deg: float,
              refined: bool = False) -> PoseEstimate:
        """pose with expected_error_deg (68 %) and error_90_deg from this calibration."""
        features = pose_features(pose, score, score_gap, view_spacing_deg)
        q68, q90 = (self.bound(features, q, refined) for q in QUANTILES)
        if q68 is None:
            return pose
        return dataclasses.replace(pose, expected_error_deg=q68, error_90_deg=q90, calibrated=True)

    def save(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        payload = {"features": list(FEATURES), "coefficients": self.coefficients, "manifest": self.manifest}
        Path(path).write_text(json.dumps(payload, indent=1) + "\n")

    def check_index(self, index_manifest: dict) -> None:
        """Refuse an index whose embedder (name, layer, weights, input size) or view grid differs from
        the one this calibration was fitted on: its scores and spreads mean something else."""
        fitted, actual = self.manifest.get("embedder_info", {}), index_manifest.get("embedder", {})
        for key in ("name", "layer", "weights", "input_size_px"):
            if fitted.get(key) != actual.get(key):
                raise CalibrationError(f"calibration fitted for embedder {key} {fitted.get(key)!r}, "
                                       f"the index has {actual.get(key)!r}")
        if self.manifest.get("views") != index_manifest.get("views"):
            raise CalibrationError("calibration fitted on another view grid than the index's")

    @classmethod
    def load(cls, path: Path, embedder_name: str | None = None) -> PoseCalibration:
        """Read an artefact; refuse one fitted with other features or for another embedder."""
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise CalibrationError(f"cannot read pose calibration {path}: {exc}") from exc
        if raw.get("features") != list(FEATURES):
            raise CalibrationError(f"{path}: fitted with other features {raw.get('features')}")
        fitted_for = raw.get("manifest", {}).get("embedder")
        if embedder_name is not None and fitted_for != embedder_name:
            raise CalibrationError(f"{path}: fitted for embedder {fitted_for!r}, not {embedder_name!r}")
        return cls(raw["coefficients"], raw.get("manifest", {}))


def shipped_calibration(index_manifest: dict) -> PoseCalibration | None:
    """The committed calibration for an index's embedder if it was fitted for that embedder and view
    grid, else None (uncalibrated)."""
    path = SHIPPED_DIR / f"{index_manifest.get('embedder', {}).get('name')}.json"
    if not path.is_file():
        return None
    try:
        calibration = PoseCalibration.load(path)
        calibration.check_index(index_manifest)
    except CalibrationError:
        return None
    return calibration
