"""The viewpoint head as a pose prior: its probabilities, their lookup at cameras, the pose it chooses between
two retrieval modes, the Searcher handing each pose the head's probabilities (and no prior without a head,
or with a head over another grid); mirror averaging: the grid's mirror permutation, the combined answer, the
Searcher reading the head on the mirror image."""

import numpy as np
import pytest

from index import search
from index.pose import estimate_pose
from index.search import Searcher
from index.view_prior import ViewPrior, mirror_permutation, own_view_prior
from render.cameras import angles_to_camera, angular_error_deg, camera_to_angles

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


class RandomHeadEmbedder(TableEmbedder):
    """A TableEmbedder with a seeded random viewpoint head over `classes` grid cameras; counts the images it
    embeds per call."""

    def __init__(self, table, classes: int):
        super().__init__(table)
        self.weights = np.random.default_rng(3).normal(size=(DIM + 1, classes)).astype(np.float32)
        self.calls: list[int] = []

    def embed(self, images):
        self.calls.append(len(images))
        return super().embed(images)

    def view_head(self):
        return self.weights, 0.5


def test_the_mirror_permutation_of_a_grid(cameras):
    mirror = mirror_permutation(cameras)
    assert sorted(mirror) == list(range(len(cameras)))
    np.testing.assert_allclose(cameras[mirror], cameras * [-1, 1, 1], atol=1e-6)
    polar, azimuth = camera_to_angles(cameras[7])
    assert camera_to_angles(cameras[mirror[7]]) == pytest.approx((polar, (360 - azimuth) % 360), abs=1e-4)
    turned = np.stack([angles_to_camera(*camera_to_angles(c) + np.array([0.0, 7.0])) for c in cameras])
    assert mirror_permutation(turned) is None  # not its own mirror image
    assert ViewPrior(np.zeros((DIM + 1, len(turned)), np.float32), 1.0, turned).mirror is None


def test_the_mirror_images_answer_is_read_at_the_mirrored_cameras(cameras):
    prior = ViewPrior(np.random.default_rng(1).normal(size=(DIM + 1, len(cameras))).astype(np.float32), 0.5,
                      cameras)
    rng = np.random.default_rng(2)
    queries, mirrored = rng.normal(size=(2, 3, DIM)).astype(np.float32)
    both = prior.probabilities(queries, mirrored)
    expected = np.sqrt(prior.probabilities(queries) * prior.probabilities(mirrored)[:, prior.mirror])
    np.testing.assert_allclose(both, expected / expected.sum(axis=1, keepdims=True), atol=1e-9)
    # a head unsure between a front and a back camera on the photo; sure, on the mirror image, of the
    # front camera's mirror: the combination picks the front
    front = int(np.argmax(cameras @ angles_to_camera(80.0, 30.0)))
    back = int(np.argmax(cameras @ angles_to_camera(80.0, 210.0)))
    weights = np.zeros((DIM + 1, len(cameras)), np.float32)
    weights[0, [front, back]] = 1.0
    weights[1, prior.mirror[front]] = 1.0
    sure = ViewPrior(weights, 0.1, cameras)
    photo, mirror_image = np.eye(DIM, dtype=np.float32)[[0]], np.eye(DIM, dtype=np.float32)[[1]]
    unsure = sure.probabilities(photo)[0]
    assert unsure[front] == pytest.approx(unsure[back])
    assert np.argmax(sure.probabilities(photo, mirror_image)[0]) == front


@pytest.mark.parametrize("mirror_views", [True, False])
def test_the_searcher_reads_the_head_on_the_mirror_image(collection, cameras, monkeypatch, mirror_views):
    query, mirrored = model_vectors(2, cameras[[10, 30]])
    embedder = RandomHeadEmbedder({1: query, 2: mirrored}, len(cameras))
    searcher = Searcher(collection, embedder, confident_score=1.01, mirror_views=mirror_views)
    priors = []
    shipped = search.estimate_pose
    monkeypatch.setattr(search, "estimate_pose",
                        lambda *args, **options: priors.append((args[0], options["prior"])) or shipped(*args,
                                                                                                       **options))
    image = np.zeros((8, 8, 3), np.uint8)
    image[:, 0], image[:, -1] = 1, 2  # embeds to `query`; mirrored, to `mirrored`
    searcher.search(image, top_k=1)
    assert embedder.calls == ([2] if mirror_views else [1])
    alone, combined = (searcher.view_prior.probabilities(query[None], other)[0]
                       for other in (None, mirrored[None]))
    assert not np.allclose(alone, combined)
    head = combined if mirror_views else alone
    view_cameras, prior = priors[0]
    np.testing.assert_allclose(prior, head[np.argmax(view_cameras @ cameras.T, axis=1)])
