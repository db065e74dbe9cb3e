"""The viewpoint head as a pose prior: its probabilities, their lookup at cameras, the pose it chooses between
two retrieval modes, the Searcher handing each pose the head's probabilities (and no prior without a head,
or with a head over another grid)."""

import numpy as np
import pytest

from index import search
from index.pose import estimate_pose
from index.search import Searcher
from index.view_prior import ViewPrior, own_view_prior
from render.cameras import angles_to_camera, angular_error_deg

from .conftest import DIM, TableEmbedder, model_vectors


class HeadEmbedder(TableEmbedder):
    """A TableEmbedder with a viewpoint head that, whatever the query, puts its mass on grid camera `favoured`
    (classes: `classes` grid cameras)."""

    def __init__(self, table, favoured: int, classes: int):
        super().__init__(table)
        self.favoured, self.classes = favoured, classes

    def view_head(self):
        weights = np.zeros((DIM + 1, self.classes), np.float32)
        weights[-1, self.favoured] = 1.0  # bias: logit 1 against 0, sharpened by the temperature
        return weights, 0.05


def test_probabilities_and_lookup(cameras):
    rng = np.random.default_rng(0)
    prior = ViewPrior(rng.normal(size=(DIM + 1, len(cameras))).astype(np.float32), 0.5, cameras)
    queries = rng.normal(size=(3, DIM)).astype(np.float32)
    probabilities = prior.probabilities(queries)
    assert probabilities.shape == (3, len(cameras)) and np.allclose(probabilities.sum(axis=1), 1.0)
    nudged = cameras[[5, 9]] + 0.01  # near grid cameras 5 and 9
    assert list(prior.at(probabilities[0], nudged)) == [probabilities[0, 5], probabilities[0, 9]]
    with pytest.raises(ValueError, match="grid"):
        ViewPrior(np.zeros((DIM + 1, 3), np.float32), 1.0, cameras)


def test_the_prior_chooses_which_retrieval_mode_is_the_pose():
    front = np.stack([angles_to_camera(80.0, a) for a in (-5.0, 0.0, 5.0)])
    back = np.stack([angles_to_camera(80.0, a) for a in (175.0, 180.0, 185.0)])
    cameras, sims = np.vstack([front, back]), np.array([0.89, 0.90, 0.89, 0.885, 0.895, 0.885])
    plain = estimate_pose(cameras, sims, 10.0)
    assert angular_error_deg(plain.camera, front[1]) < 5 and len(plain.alternatives) == 1
    favour_back = estimate_pose(cameras, sims, 10.0, prior=np.array([0.05] * 3 + [0.3] * 3))
    assert angular_error_deg(favour_back.camera, back[1]) < 5
    assert angular_error_deg(favour_back.alternatives[0].camera, front[1]) < 5
    flat = estimate_pose(cameras, sims, 10.0, prior=np.full(6, 1e-6))  # a flat prior changes nothing
    assert np.allclose(flat.camera, plain.camera) and flat.probability == pytest.approx(plain.probability)


def test_the_searcher_gives_each_pose_the_heads_probabilities(collection, cameras, monkeypatch):
    favoured = 40
    searcher = Searcher(collection, HeadEmbedder({}, favoured, len(cameras)))
    seen = []
    shipped = search.estimate_pose

    def spy(view_cameras, sims, spacing, symmetry, **options):
        seen.append((view_cameras, options))
        return shipped(view_cameras, sims, spacing, symmetry, **options)

    monkeypatch.setattr(search, "estimate_pose", spy)
    query = model_vectors(2, cameras[10][None])
    searcher.search_embeddings(query, top_k=2)
    expected = searcher.view_prior.probabilities(query)[0]
    assert len(seen) == 2
    for view_cameras, options in seen:
        assert options["temperature"] == search.VIEW_PRIOR_TEMPERATURE
        nearest = np.argmax(view_cameras @ cameras.T, axis=1)
        assert np.allclose(options["prior"], expected[nearest])
    assert expected[favoured] > 0.99


def test_no_prior_without_a_head_or_over_another_grid(collection, cameras):
    assert own_view_prior(TableEmbedder({}), collection.view_config) is None
    assert own_view_prior(HeadEmbedder({}, 0, len(cameras) - 1), collection.view_config) is None
    other = Searcher(collection, HeadEmbedder({}, 0, len(cameras) - 1))
    true = angles_to_camera(60.0, 40.0)
    match = other.search_embeddings(model_vectors(1, true[None]), top_k=1)[0].matches[0]
    assert other.view_prior is None and angular_error_deg(true, match.pose.camera) < 20


def test_a_confident_match_keeps_the_retrieval_pose(collection, cameras, monkeypatch):
    seen = []
    shipped = search.estimate_pose
    monkeypatch.setattr(search, "estimate_pose",
                        lambda *args, **options: seen.append(options) or shipped(*args, **options))
    query = model_vectors(2, cameras[10][None])  # an indexed view: similarity 1
    sure = Searcher(collection, HeadEmbedder({}, 40, len(cameras)), confident_score=0.95)
    assert sure.view_prior is not None
    sure.search_embeddings(query, top_k=1)
    unsure = Searcher(collection, HeadEmbedder({}, 40, len(cameras)), confident_score=1.01)
    unsure.search_embeddings(query, top_k=1)
    assert "prior" not in seen[0] and "prior" in seen[1]
