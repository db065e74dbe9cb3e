"""Search: ranking by model, pose from the views, seat-kind probabilities."""

import numpy as np
import pytest

from index.search import ModelMatch, Searcher
from index.store import MetadataStore, ModelRecord
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


def test_every_retrieved_model_votes_but_only_the_top_k_get_a_pose(searcher, monkeypatch):
    import index.search

    camera, poses = angles_to_camera(50.0, 200.0), []
    query = _query(1, camera) + _query(2, camera)  # two models (a chair and a sofa) alike: both vote
    query /= np.linalg.norm(query)
    real = index.search.estimate_pose
    monkeypatch.setattr(index.search, "estimate_pose", lambda *a, **kw: poses.append(1) or real(*a, **kw))
    one = searcher.search_embeddings(query, top_k=1)[0]
    assert len(one.matches) == 1 and len(poses) == 1
    every = searcher.search_embeddings(query, top_k=50)[0]  # all models of the collection
    assert len(every.matches) > 1 and len(poses) == 1 + len(every.matches)
    from_all_matches = dict(searcher.seat_kinds(every.matches, searcher.classify(query)[0]))
    assert dict(one.categories) == pytest.approx(dict(every.categories))
    assert dict(every.categories) == pytest.approx(from_all_matches)
    assert one.matches[0].record == every.matches[0].record
    np.testing.assert_array_equal(one.matches[0].pose.camera, every.matches[0].pose.camera)


def _match(kind: str | None, score: float) -> ModelMatch:
    record = ModelRecord(f"lib#{kind}-{score}", "m", "/x.obj", "h", seat_kind=kind)
    return ModelMatch(record, score, None, 0, None)


def test_vote_sums_softmax_weights_per_kind(searcher):
    matches = [_match("sofa", 0.90), _match("chair", 0.89), _match("chair", 0.89), _match(None, 0.99)]
    # exp(-0.5) * 2 = 1.21 > 1: two close chairs outvote one slightly better sofa; None does not vote
    vote = searcher.vote(matches)
    assert max(vote, key=vote.get) == "chair" and sum(vote.values()) == pytest.approx(1.0)
    # a colder softmax leaves it to the best model: exp(-10) * 2 < 1
    searcher.category_temperature = 0.001
    assert max(searcher.vote(matches), key=searcher.vote(matches).get) == "sofa"
    assert searcher.vote([_match(None, 1.0)]) == {}


def test_seat_kinds_mix_the_vote_and_the_classifier_equally(searcher):
    matches = [_match("sofa", 0.9), _match("stool", 0.9)]  # a tie: no confident top-1
    classified = {"chair": 0.7, "stool": 0.3}
    mixed = dict(searcher.seat_kinds(matches, classified))
    assert mixed == pytest.approx({"sofa": 0.25, "chair": 0.35, "stool": 0.4})
    assert dict(searcher.seat_kinds(matches, {})) == pytest.approx({"sofa": 0.5, "chair": 0.0, "stool": 0.5})
    assert dict(searcher.seat_kinds([], classified)) == pytest.approx({"chair": 0.7, "stool": 0.3, "sofa": 0.0})
    assert searcher.seat_kinds([], {}) == []


def test_a_confident_top1_model_decides_the_seat_kind(searcher):
    # the office-chair case: the right model clearly first, a classifier sure of another kind
    searcher.confident_score = 0.85
    classified = {"chair": 0.95, "stool": 0.05}
    clear = [_match("sofa", 0.90), _match("chair", 0.86), _match("chair", 0.85)]  # exp(-2) + exp(-2.5) < 1
    assert searcher.confident_top1(clear)
    kinds = searcher.seat_kinds(clear, classified)
    assert kinds[0][0] == "sofa" and sum(p for _, p in kinds) == pytest.approx(1.0)
    assert {k for k, _ in kinds} == {"chair", "sofa", "stool"}
    # a top-1 that is not clearly ahead leaves the answer to the mixture
    close = [_match("sofa", 0.90), _match("chair", 0.895), _match("chair", 0.89)]
    assert not searcher.confident_top1(close)
    assert searcher.seat_kinds(close, classified)[0][0] == "chair"
    assert not searcher.confident_top1([_match(None, 0.99), _match("sofa", 0.5)])
    # clearly first, but a low score: the best of the others for a seat outside the catalogue
    searcher.confident_score = 0.95
    assert not searcher.confident_top1(clear) and searcher.seat_kinds(clear, classified)[0][0] == "chair"


def test_the_classifier_answers_for_a_model_missing_from_the_results(collection, cameras):
    searcher = Searcher(collection, TableEmbedder({}), kind_vote_weight=0.0)
    query = _query(2, angles_to_camera(55.0, 123.0))
    answer = searcher.search_embeddings(query, top_k=3)[0]
    # drop every sofa from the results: only the classifier still knows this is a sofa
    others = [m for m in answer.matches if m.record.seat_kind != "sofa"]
    assert searcher.seat_kinds(others, searcher.classify(query)[0])[0][0] == "sofa"
    assert answer.categories[0][0] == "sofa"


def test_vote_weight_one_is_the_vote_alone_without_a_classifier(collection):
    searcher = Searcher(collection, TableEmbedder({}), kind_vote_weight=1.0)
    assert searcher.kind_classifier is None and searcher.classify(_query(2, angles_to_camera(55, 3))) == [{}]
    answer = searcher.search_embeddings(_query(2, angles_to_camera(55.0, 123.0)), top_k=3)[0]
    assert dict(answer.categories) == pytest.approx(dict.fromkeys(searcher.kinds, 0.0) | searcher.vote(answer.matches))


def test_real_tiny_index_ranks_the_right_kind_first(tiny_index_settings, tiny_embedder, tiny_cad_dir):
    from index.collection import Collection
    from tests.conftest import TINY_MODELS, render_rgb

    collection = Collection.open(tiny_index_settings.resolved_index_dir)
    try:
        searchers = [Searcher(collection, tiny_embedder), Searcher(collection, tiny_embedder, kind_vote_weight=0.0)]
        for name, (ext, kind) in TINY_MODELS.items():
            image = render_rgb(tiny_cad_dir / f"{name}.{ext}", angles_to_camera(np.array([62.0]), np.array([33.0])))[0]
            for searcher in searchers:
                categories = searcher.search(image).categories
                assert categories[0][0] == kind, (name, categories)
                assert sum(p for _, p in categories) == pytest.approx(1.0)
    finally:
        collection.close()


@pytest.mark.parametrize("removed", ["lib#m0", "lib#m3"])  # the first and the last views by id
def test_a_searcher_opened_while_a_cli_removes_a_model_sees_one_snapshot(collection, cameras, removed):
    """`index remove` commits to SQLite after the service loaded vectors.faiss but before it read the
    view table: the searcher must not map the removed model's vectors onto other models' views."""
    other = MetadataStore(collection.root / "metadata.sqlite")  # the CLI's own connection
    other.remove_model(removed)
    other.close()
    searcher = Searcher(collection, TableEmbedder({}))
    query = _query(int(removed[-1]), angles_to_camera(55.0, 123.0))
    answer = searcher.search_embeddings(query, top_k=3)[0]
    assert len(answer.matches) == 3 and removed not in {m.record.model_id for m in answer.matches}
    table = collection.store.view_table()
    ids, vectors = (np.concatenate(parts) for parts in zip(*collection.store.embeddings()))
    for match in answer.matches:  # its best view and score are that model's own
        own = table.model_ids == match.record.model_id
        best = np.argmax(vectors[own] @ query[0])
        assert match.best_view_id == ids[own][best]
        assert match.score == pytest.approx(float(np.clip(vectors[own][best] @ query[0], 0, 1)), abs=1e-5)


def test_a_search_returns_top_k_models_when_the_nearest_views_hold_fewer(collection):
    searcher = Searcher(collection, TableEmbedder({}), min_views=1)  # 4 x 32 neighbours: few models
    answer = searcher.search_embeddings(_query(3, angles_to_camera(55.0, 123.0)), top_k=4)[0]
    assert [m.record.model_id for m in answer.matches][:1] == ["lib#m3"] and len(answer.matches) == 4
