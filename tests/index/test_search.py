"""Search: ranking by model, pose from the views, seat-kind probabilities."""

import numpy as np
import pytest

from index.search import Searcher
from render.cameras import angles_to_camera, angular_error_deg

from .conftest import TableEmbedder, model_vectors


@pytest.fixture
def searcher(collection):
    return Searcher(collection, TableEmbedder({}))


def _query(model_seed: int, camera: np.ndarray) -> np.ndarray:
    return model_vectors(model_seed, camera[None])


def test_held_out_pose_finds_the_model_and_a_close_pose(searcher):
    true = angles_to_camera(55.0, 123.0)  # not a grid camera
    answer = searcher.search_embeddings(_query(2, true), top_k=3, true_camera=true)[0]
    best = answer.matches[0]
    assert best.record.model_id == "lib#m2" and len(answer.matches) == 3
    assert 0 <= best.score <= 1 and best.score >= answer.matches[1].score
    assert best.angular_error_deg == pytest.approx(float(angular_error_deg(true, best.pose.camera)))
    assert best.angular_error_deg < searcher.view_spacing_deg
    assert answer.categories[0][0] == "sofa"
    assert sum(p for _, p in answer.categories) == pytest.approx(1.0)
    assert {k for k, _ in answer.categories} == {"chair", "sofa", "stool"}


def test_search_from_image_uses_the_embedder(collection, cameras):
    camera = cameras[7]
    searcher = Searcher(collection, TableEmbedder({3: _query(3, camera)[0]}))
    image = np.full((32, 32, 3), 3, dtype=np.uint8)
    match = searcher.search(image, top_k=1).matches[0]
    assert match.record.model_id == "lib#m3" and match.angular_error_deg is None
    assert angular_error_deg(camera, match.pose.camera) < searcher.view_spacing_deg / 2


def test_top_k_must_be_positive(searcher):
    with pytest.raises(ValueError):
        searcher.search_embeddings(_query(0, angles_to_camera(60, 0)), top_k=0)
