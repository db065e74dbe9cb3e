"""Evaluation metrics with known answers, and the query loop on a synthetic and a real tiny index."""

import numpy as np
import pytest

from evaluation.evaluate import (
    QueryOutcome,
    evaluate_queries,
    pose_summary,
    seat_kind_accuracy,
    summarise,
    topk_accuracy,
)
from evaluation.splits import Query
from index.collection import Collection
from index.search import Searcher
from render.cameras import angles_to_camera
from tests.index.conftest import TableEmbedder, model_vectors


def test_topk_accuracy_known_answers():
    ranked = [["a", "b", "c"], ["b", "a", "c"], ["c", "b", "a"], []]
    assert topk_accuracy(["a", "a", "a", "a"], ranked, 1) == 0.25
    assert topk_accuracy(["a", "a", "a", "a"], ranked, 2) == 0.5
    assert topk_accuracy(["a", "a", "a", "a"], ranked, 3) == 0.75
    assert np.isnan(topk_accuracy([], [], 1))


def test_seat_kind_accuracy_skips_models_without_a_kind():
    assert seat_kind_accuracy(["chair", "sofa", None, "stool"], ["chair", "chair", "sofa", "stool"]) == 2 / 3
    assert np.isnan(seat_kind_accuracy([None], ["chair"]))


def test_pose_summary_known_answers():
    summary = pose_summary(np.array([10.0, 20.0, 30.0, 100.0]))
    assert summary == {"n": 4, "mean_deg": 40.0, "median_deg": 25.0, "acc_at_30": 0.75}
    assert np.isnan(pose_summary(np.array([]))["mean_deg"])


def test_summarise_reports_pose_over_correct_queries_and_refinement():
    outcomes = [
        QueryOutcome("a", "chair", ["a", "b"], "chair", 10.0, refined_error_deg=4.0, refine_seconds=1.0),
        QueryOutcome("b", "sofa", ["a", "b"], "chair", 50.0, refined_error_deg=60.0, refine_seconds=3.0),
        QueryOutcome("c", None, ["c"], "chair", 6.0),
    ]
    s = summarise(outcomes)
    assert (s["queries"], s["top1"], s["top5"], s["seat_kind"]) == (3, 2 / 3, 1.0, 0.5)
    assert s["pose"]["mean_deg"] == pytest.approx(22.0) and s["pose"]["acc_at_30"] == pytest.approx(2 / 3)
    assert s["pose_correct"] == {"n": 2, "mean_deg": 8.0, "median_deg": 8.0, "acc_at_30": 1.0}
    assert s["refined"]["before"]["mean_deg"] == 30.0 and s["refined"]["after"]["mean_deg"] == 32.0
    assert s["refined"]["seconds_per_query"] == 2.0


def _synthetic_queries(cameras_by_model: dict[int, np.ndarray]):
    """Images whose first pixel selects a table vector = that model's smooth view embedding."""
    table, images, queries = {}, [], []
    for seed, camera in cameras_by_model.items():
        table[seed] = model_vectors(seed, camera[None])[0]
        images.append(np.full((32, 32, 3), seed, np.uint8))
        queries.append(Query(f"lib#m{seed}", tuple(camera)))
    return TableEmbedder(table), np.stack(images), queries


def test_evaluate_queries_scores_retrieval_and_pose(collection: Collection):
    cameras = {i: angles_to_camera(55.0, 40.0 + 70 * i) for i in range(4)}
    embedder, images, queries = _synthetic_queries(cameras)
    outcomes = evaluate_queries(Searcher(collection, embedder), images, queries)
    assert [o.ranked_models[0] for o in outcomes] == [q.model_id for q in queries]
    assert [o.predicted_kind for o in outcomes] == ["chair", "chair", "sofa", "stool"]
    assert all(o.pose_error_deg < 16 and o.estimated_camera is not None for o in outcomes)


def test_evaluate_queries_can_exclude_the_own_model(collection: Collection):
    embedder, images, queries = _synthetic_queries({2: angles_to_camera(60.0, 10.0)})
    (kept,) = evaluate_queries(Searcher(collection, embedder), images, queries)
    held_out_searcher = Searcher(collection, embedder, kind_holdouts={"lib#m2"})
    (held_out,) = evaluate_queries(held_out_searcher, images, queries, exclude_own=True)
    assert kept.ranked_models[0] == "lib#m2" and kept.predicted_kind == "sofa"
    assert held_out.ranked_models == [m for m in kept.ranked_models if m != "lib#m2"]
    # the only sofa is gone from the results and from what the seat-kind classifier learnt
    assert held_out.predicted_kind != "sofa" and held_out_searcher.kind_classifier.kinds == ("chair", "stool")
    assert summarise([held_out])["top1"] == 0.0


def test_real_tiny_index_finds_off_grid_views(tiny_index_settings, tiny_embedder, tiny_cad_dir):
    from tests.conftest import render_rgb

    cameras = angles_to_camera(np.array([50.0, 75.0]), np.array([23.0, 200.0]))
    images = render_rgb(tiny_cad_dir / "box_chair.glb", cameras)
    queries = [Query("test#box_chair", tuple(c)) for c in cameras]
    collection = Collection.open(tiny_index_settings.resolved_index_dir)
    try:
        summary = summarise(evaluate_queries(Searcher(collection, tiny_embedder), images, queries))
    finally:
        collection.close()
    assert summary["top1"] == 1.0 and summary["seat_kind"] == 1.0
    assert summary["pose"]["mean_deg"] < 30


@pytest.mark.parametrize("search", [{}, {"view_prior": True, "mirror_views": False}, {"view_prior": False}])
def test_the_synthetic_sets_are_searched_with_the_services_pose_options(tiny_index_settings, tiny_embedder,
                                                                        tiny_cad_dir, search):
    """run_evaluation's `search` (app.deps.search_options) reaches the Searcher of each target: with the
    view head's mirror on, every query batch is embedded with its mirror images."""
    from evaluation.report import EvalTarget, _evaluate_target
    from evaluation.splits import EvaluationSplit
    from index.build import view_cameras
    from tests.conftest import ViewHeadEmbedder, render_rgb

    cameras = angles_to_camera(np.array([50.0, 75.0]), np.array([23.0, 200.0]))
    images = render_rgb(tiny_cad_dir / "box_chair.glb", cameras)
    split = EvaluationSplit(0, (20.0, 90.0), 2.0, [], [], [], {"render": [Query("test#box_chair", tuple(c))
                                                                          for c in cameras]})
    collection = Collection.open(tiny_index_settings.resolved_index_dir)
    try:
        embedder = ViewHeadEmbedder(tiny_embedder, len(view_cameras(collection.view_config)))
        result = _evaluate_target(EvalTarget("tiny", collection, embedder), split, {"render": images}, search)
    finally:
        collection.close()
    mirrored = search.get("view_prior", True) and search.get("mirror_views", True)
    assert embedder.calls == [4 if mirrored else 2] and result["sets"]["render"]["top1"] == 1.0
