"""Calibration rows on the tiny index: an unseen-model query is answered by another model, as a
photographed seat the catalogue lacks would be, and the share of such queries leaves the queries alone."""

from __future__ import annotations

import numpy as np

from evaluation.calibration import calibration_rows, unseen_queries
from evaluation.splits import Query
from index.calibration import FEATURES
from index.collection import Collection
from index.search import Searcher
from render.cameras import angular_error_deg
from tests.conftest import render_rgb

SCORE = FEATURES.index("score")


def test_an_unseen_query_is_answered_by_another_model(tiny_index_settings, tiny_embedder, tiny_cad_dir):
    collection = Collection.open(tiny_index_settings.resolved_index_dir)
    try:
        searcher = Searcher(collection, tiny_embedder)
        views = searcher.views
        cameras = views.cameras[views.model_ids == "test#box_chair"][[3, 9]]  # indexed views: exact matches
        images = render_rgb(tiny_cad_dir / "box_chair.glb", cameras, collection.view_config.size_px)
        queries = [Query("test#box_chair", tuple(map(float, c))) for c in cameras]
        seen = calibration_rows(searcher, np.concatenate([images, images]), queries + queries,
                                unseen=np.array([False, False, True, True]))
    finally:
        collection.close()
    assert seen.kinds == ["white", "white", "white+unseen", "white+unseen"]
    assert np.all(seen.features[:2, SCORE] > 0.99)  # its own indexed view
    assert np.all(seen.features[2:, SCORE] < seen.features[:2, SCORE] - 0.01)  # another model's best view
    assert np.allclose(seen.plain_deg[:2], angular_error_deg(cameras, cameras), atol=1.0)


def test_the_unseen_share_is_drawn_apart_from_the_queries():
    assert not unseen_queries(1000, 0.0, 7).any() and unseen_queries(1000, 1.0, 7).all()
    drawn = unseen_queries(1000, 0.5, 7)
    assert 400 < drawn.sum() < 600 and np.array_equal(drawn, unseen_queries(1000, 0.5, 7))


def test_calibration_and_evaluation_read_the_view_head_as_the_service_does(tiny_index_settings, tiny_embedder,
                                                                            tiny_cad_dir, monkeypatch):
    """With a viewpoint head over a mirror-symmetric grid, calibration rows and evaluation queries are searched
    with the images' mirror vectors, as index.scene answers an upload (else their poses are not the service's)."""
    from evaluation.evaluate import evaluate_queries
    from index import search
    from index.build import view_cameras
    from tests.conftest import ViewHeadEmbedder

    collection = Collection.open(tiny_index_settings.resolved_index_dir)
    try:
        embedder = ViewHeadEmbedder(tiny_embedder, len(view_cameras(collection.view_config)))
        searcher = Searcher(collection, embedder)
        assert searcher.mirror_views
        given = []
        shipped = search.Searcher.search_embeddings
        monkeypatch.setattr(search.Searcher, "search_embeddings",
                            lambda self, queries, *args, **options: given.append(options.get("mirrored"))
                            or shipped(self, queries, *args, **options))
        cameras = searcher.views.cameras[searcher.views.model_ids == "test#box_chair"][[3]]
        images = render_rgb(tiny_cad_dir / "box_chair.glb", cameras, collection.view_config.size_px)
        queries = [Query("test#box_chair", tuple(map(float, cameras[0])))]
        calibration_rows(searcher, images, queries)
        evaluate_queries(searcher, images, queries)
    finally:
        collection.close()
    assert len(given) == 2 and all(m is not None and m.shape == (1, tiny_embedder.info.dim) for m in given)
    np.testing.assert_allclose(given[0], tiny_embedder.embed(images[:, :, ::-1]), atol=1e-5)
