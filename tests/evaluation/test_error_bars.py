"""Coverage and reliability of stated pose error bounds, and the report section."""

import numpy as np
import pytest

from evaluation.error_bars import coverage_summary, reliability, section


def test_coverage_counts_errors_within_their_own_bounds():
    plain = np.array([5.0, 20.0, 170.0, 40.0])
    symmetric = np.array([5.0, 20.0, 10.0, 40.0])  # the flip is no error for a C2 model
    bound68 = np.array([10.0, 10.0, 30.0, 50.0])
    summary = coverage_summary(plain, symmetric, bound68, np.array([np.nan] * 4))
    assert summary["q68"] == 0.5 and summary["q68_symmetric"] == 0.75
    assert np.isnan(summary["q90"])  # no 90 % bound stated: not counted as missed
    assert summary["symmetric_mean_deg"] == pytest.approx(18.75)


def test_reliability_bins_by_stated_bound():
    rng = np.random.default_rng(0)
    bounds = rng.uniform(5, 100, 1000)
    errors = bounds * rng.uniform(0, 1 / 0.68, 1000)  # exactly 68 % within, at every bound
    centres, observed = reliability(errors, bounds, bins=5)
    assert np.all(np.diff(centres) > 0) and np.allclose(observed, 0.68, atol=0.07)
    overconfident = reliability(errors * 3, bounds, bins=5)[1]
    assert np.all(overconfident < 0.4)


def test_section_has_a_row_per_target_and_set():
    stats = {"pose": {"mean_deg": 50.0}, "calibrated": True,
             "error_bars": coverage_summary(np.array([1.0]), np.array([1.0]), np.array([2.0]), np.array([3.0]))}
    results = {"targets": {"lite0": {"sets": {"photo": stats, "render": {"pose": {"mean_deg": 1.0}}}}}}
    text = "\n".join(section(results, ("photo", "render")))
    assert "| lite0 | photo | yes | 2.0 | 1.00 / 1.00 | 1.00 / 1.00 | 50.0 / 1.0 |" in text
    assert "| lite0 | render |" not in text  # no stated bounds there
