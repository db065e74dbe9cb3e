"""Pose error bars in the evaluation: coverage of expected_error_deg (68 %) and error_90_deg (90 %), the
symmetric error beside the plain one, the report section and the reliability plot (issue 11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

BINS = 5  # reliability plot: answers binned by their stated 68 % bound, quintiles


def coverage_summary(plain_deg: np.ndarray, symmetric_deg: np.ndarray, bound68_deg: np.ndarray,
                     bound90_deg: np.ndarray) -> dict[str, float]:
    """Fractions of answers within their stated bounds (n,) each, plain and symmetric errors (n,) in
    degrees; a missing 90 % bound (nan) counts as not stated (coverage nan)."""
    def within(errors: np.ndarray, bounds: np.ndarray) -> float:
        known = np.isfinite(bounds)
        return float(np.mean(errors[known] <= bounds[known])) if known.any() else float("nan")

    return {"q68": within(plain_deg, bound68_deg), "q68_symmetric": within(symmetric_deg, bound68_deg),
            "q90": within(plain_deg, bound90_deg), "q90_symmetric": within(symmetric_deg, bound90_deg),
            "symmetric_mean_deg": float(np.mean(symmetric_deg)) if len(symmetric_deg) else float("nan"),
            "stated_median_deg": float(np.median(bound68_deg)) if len(bound68_deg) else float("nan")}


def reliability(errors_deg: np.ndarray, bound68_deg: np.ndarray, bins: int = BINS,
                ) -> tuple[np.ndarray, np.ndarray]:
    """Median stated bound and observed coverage per quantile bin of the stated bound.
    Returns (bins,) and (bins,) float64 (fewer bins when there are fewer answers)."""
    order = np.argsort(bound68_deg)
    groups = [g for g in np.array_split(order, min(bins, len(order))) if len(g)]
    return (np.array([np.median(bound68_deg[g]) for g in groups]),
            np.array([np.mean(errors_deg[g] <= bound68_deg[g]) for g in groups]))


SECTION = """### Pose error bars (issue 11)

Coverage = fraction of top-1 answers whose angular error lies within the stated bound: `expected_error_deg`
(meant as the 68th percentile) and `error_90_deg` (90th). "sym" uses the symmetric error (the minimum over
the cameras equivalent under the true model's rotational symmetry about the up axis, as the BOP benchmark
does for symmetric objects; index/symmetry.py); the plain figure is beside it. Calibrated = the shipped
calibration for this embedder and view grid (index/calibrations/, fitted by `photo2cad calibrate` on
queries no test set uses); otherwise the bound is the uncalibrated spread and there is no 90 % bound.
Target: coverage at 68 % between 0.58 and 0.78. Reliability plot: docs/evaluation_reliability.png."""


def section(results: dict, set_names: tuple[str, ...]) -> list[str]:
    """The Markdown section: one row per target and set."""
    header = ("| embedder / index | set | calibrated | stated 68 % bound (median) | coverage 68 % (plain / sym) "
              "| coverage 90 % (plain / sym) | mean err (plain / sym) |")
    rows = [SECTION, "", header, "|---" * 7 + "|"]
    for label, target in results["targets"].items():
        for name in set_names:
            s = target["sets"][name]
            c = s.get("error_bars")
            if not c:
                continue
            rows.append(f"| {label} | {name} | {'yes' if s.get('calibrated') else 'no'} | "
                        f"{c['stated_median_deg']:.1f} | {c['q68']:.2f} / {c['q68_symmetric']:.2f} | "
                        f"{c['q90']:.2f} / {c['q90_symmetric']:.2f} | {s['pose']['mean_deg']:.1f} / "
                        f"{c['symmetric_mean_deg']:.1f} |")
    return rows + [""]


def plot_reliability(results: dict, set_names: tuple[str, ...], path: Path) -> None:
    """Observed coverage against the stated 68 % bound, per target, one panel per test set."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(set_names), figsize=(5 * len(set_names), 4), sharey=True)
    for axis, name in zip(np.atleast_1d(axes), set_names):
        for label, target in results["targets"].items():
            rows = [q for q in target["queries"][name] if q.get("expected_error_deg") is not None]
            if rows:
                bound, observed = reliability(np.array([q["symmetric_error_deg"] for q in rows]),
                                              np.array([q["expected_error_deg"] for q in rows]))
                axis.plot(bound, observed, marker="o", label=label)
        axis.axhline(0.68, color="grey", linestyle=":")
        axis.axhspan(0.58, 0.78, color="grey", alpha=0.1)
        axis.set(title=name, xlabel="stated 68 % bound, bin median (deg)", xscale="log", ylim=(0, 1))
    np.atleast_1d(axes)[0].set_ylabel("observed coverage (symmetric error)")
    np.atleast_1d(axes)[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
