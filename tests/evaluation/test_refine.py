"""Render-and-compare refinement of evaluation outcomes, on a real tiny index."""

import pytest

from evaluation.evaluate import QueryOutcome
from evaluation.refine import RenderCompareRefiner
from evaluation.splits import Query
from index.collection import Collection
from index.refine import ring_cameras
from index.search import Searcher
from render.cameras import angles_to_camera, angular_error_deg


def test_refinement_moves_an_off_estimate_towards_the_true_camera(tiny_index_settings, tiny_embedder,
                                                                  tiny_cad_dir):
    from tests.conftest import render_rgb

    true = angles_to_camera(60.0, 40.0)
    start = ring_cameras(true, 10.0, count=5)[2]  # a pose 10 degrees off
    image = render_rgb(tiny_cad_dir / "box_chair.glb", true[None])
    outcome = QueryOutcome("test#box_chair", "chair", ["test#box_chair"], "chair",
                           float(angular_error_deg(true, start)), tuple(start))
    collection = Collection.open(tiny_index_settings.resolved_index_dir)
    try:
        (refined,) = RenderCompareRefiner()(Searcher(collection, tiny_embedder), image,
                                            [Query("test#box_chair", tuple(true))], [outcome])
    finally:
        collection.close()
    assert refined.refined_error_deg < outcome.pose_error_deg == pytest.approx(10.0)
    assert refined.refine_seconds > 0 and refined.pose_error_deg == outcome.pose_error_deg
