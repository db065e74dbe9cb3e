"""The evaluation report: like-for-like coarser index copies, Markdown tables and the error plot."""

import numpy as np
import pytest
from PIL import Image

from evaluation.evaluate import QueryOutcome, outcomes_json, summarise
from evaluation.report import coarser_copy, markdown, plot_errors
from render.cameras import sphere_cameras


def test_coarser_copy_keeps_exactly_the_coarser_level_views(collection, tmp_path):
    copy = coarser_copy(collection, 1, tmp_path / "l1")
    try:
        level1 = sphere_cameras(1, "icosphere", (20.0, 90.0))
        table = copy.store.view_table()
        assert copy.view_config.count == 1 and copy.store.view_counts() == {f"lib#m{i}": len(level1)
                                                                            for i in range(4)}
        np.testing.assert_allclose(table.cameras[table.model_ids == "lib#m0"], level1, atol=1e-9)
        old = collection.store.view_table()
        old_vectors = np.concatenate([v for _, v in collection.store.embeddings()])
        new_vectors = np.concatenate([v for _, v in copy.store.embeddings()])
        for i, (model_id, camera) in enumerate(zip(table.model_ids, table.cameras)):
            same = (old.model_ids == model_id) & (np.abs(old.cameras - camera).max(axis=1) < 1e-9)
            assert same.sum() == 1
            np.testing.assert_array_equal(new_vectors[i], old_vectors[same][0])
        assert copy.vectors.ntotal == 4 * len(level1)
    finally:
        copy.close()
    with pytest.raises(ValueError):
        coarser_copy(collection, 3, tmp_path / "l3")


def _results():
    outcomes = [QueryOutcome("a", "chair", ["a"], "chair", 12.0),
                QueryOutcome("b", "sofa", ["a"], "chair", 90.0)]
    target = {"sets": {n: summarise(outcomes) for n in ("render", "photo", "heldout_models")},
              "queries": {n: outcomes_json(outcomes) for n in ("render", "photo", "heldout_models")}}
    return {"date": "2026-01-01 00:00 UTC", "machine": "test", "config": {"seed": 3, "queries_per_set": 2},
            "reference_mean_error_deg": {"seed CNN": 11.12}, "targets": {"lite0": target}}


def test_markdown_has_one_row_per_target_and_set():
    text = markdown(_results())
    rows = [line for line in text.splitlines() if line.startswith("| lite0 |")]
    assert len(rows) == 4  # one per test set, one in the targets table
    assert rows[0].startswith("| lite0 | 0.50 | 0.50 | 0.50 | 51.0 | 51.0 | 12.0 (n=1) | 0.50 | - |")
    assert rows[3] == "| lite0 | 0.50 (not met) | 51.0 (not met) | 0.50 (not met) |"
    assert "Seed 3, 2 queries" in text and "seed CNN: 11.12 deg" in text


def _baseline(errors):
    from evaluation.evaluate import pose_summary

    summary = pose_summary(np.array(errors))
    rows = [{"detected": True, "error_deg": e} for e in errors] + [{"detected": False, "error_deg": None}]
    return {"queries": len(rows), "detected": len(errors), "pose": summary, "pose_front_back": summary,
            "pose_any_side": summary, "per_query": rows}


def test_outside_baseline_gets_rows_and_a_comparison():
    results = _results()
    results["baselines"] = {"objectron": {n: _baseline([100.0, 104.0]) for n in ("render", "photo",
                                                                                  "heldout_models")}}
    text = markdown(results)
    rows = [line for line in text.splitlines() if line.startswith("| objectron |")]
    assert rows == ["| objectron | - | - | - | 102.0 | 102.0 | - | 0.00 | - |"] * 3
    assert "presence passed on 2/3 images" in text and "Our best mean error here: 51.0 deg (lite0), 2.0x lower" in text


def test_plot_errors_writes_a_png(tmp_path):
    results = _results()
    results["baselines"] = {"objectron": {n: _baseline([100.0]) for n in ("render", "photo", "heldout_models")}}
    plot_errors(results, tmp_path / "errors.png")
    with Image.open(tmp_path / "errors.png") as image:
        assert image.format == "PNG" and image.width > 600


def test_targets_table_counts_refined_pose_against_the_pose_target():
    outcomes = [QueryOutcome("a", "chair", ["a"], "chair", 12.0, refined_error_deg=3.0),
                QueryOutcome("b", "sofa", ["b"], "sofa", 8.0, refined_error_deg=4.0)]
    results = _results()
    results["targets"]["lite0"]["sets"]["render"] = summarise(outcomes)
    row = [line for line in markdown(results).splitlines() if line.startswith("| lite0 | 1.00 (met)")]
    assert row == ["| lite0 | 1.00 (met) | 10.0 (not met); refined 3.5 (met) | 0.50 (not met) |"]
