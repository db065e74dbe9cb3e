"""Seat-kind classifier: known answers on clustered embeddings, leaving models out, the index-folder cache."""

import numpy as np
import pytest

from index import kinds as kinds_module
from index.kinds import CACHE_FILE, KindClassifier, balanced_weights, collection_kind_classifier
from index.store import ModelRecord
from models.embedder import l2_normalise

from .conftest import model_vectors

KINDS = ("bench", "chair", "sofa")
DIM = 32


def _clustered(models_per_kind: int, seed: int, views: int = 12):
    """Views of models around one centre per kind: (embeddings (n, DIM), view model ids (n,), kinds)."""
    centres = np.random.default_rng(0).normal(size=(len(KINDS), DIM))
    rng = np.random.default_rng(seed)
    vectors, view_models, model_kinds = [], [], {}
    for k, kind in enumerate(KINDS):
        for i in range(models_per_kind):
            model_id = f"{kind}-{seed}-{i}"
            model = centres[k] + 0.6 * rng.normal(size=DIM)
            vectors.append(model + 0.4 * rng.normal(size=(views, DIM)))
            view_models += [model_id] * views
            model_kinds[model_id] = kind
    return l2_normalise(np.concatenate(vectors)).astype(np.float32), np.array(view_models, dtype=object), model_kinds


def test_classifies_views_of_unseen_models_by_their_cluster():
    train = _clustered(6, seed=1)
    embeddings, view_models, model_kinds = _clustered(3, seed=2)
    classifier = kinds_module.fit_kind_classifier(*train)
    probabilities = classifier.probabilities(embeddings)
    assert classifier.kinds == KINDS and probabilities.shape == (len(embeddings), 3)
    assert np.allclose(probabilities.sum(axis=1), 1.0) and (probabilities >= 0).all()
    predicted = np.array(KINDS)[probabilities.argmax(axis=1)]
    assert np.mean(predicted == [model_kinds[m] for m in view_models]) > 0.95


def test_probabilities_follow_the_temperature():
    classifier = kinds_module.fit_kind_classifier(*_clustered(4, seed=1))
    queries = _clustered(1, seed=3)[0]
    cold = KindClassifier(classifier.kinds, classifier.weights, 0.01).probabilities(queries)
    warm = KindClassifier(classifier.kinds, classifier.weights, 100.0).probabilities(queries)
    assert cold.max(axis=1).min() > 0.99 and np.allclose(warm, 1 / 3, atol=0.01)
    assert np.array_equal(cold.argmax(axis=1), classifier.probabilities(queries).argmax(axis=1))


def test_leaving_models_out_equals_fitting_without_their_views():
    embeddings, view_models, model_kinds = _clustered(3, seed=1)
    left_out = {"chair-1-0", "sofa-1-2"}
    kept = np.array([m not in left_out for m in view_models])
    without = kinds_module.fit_kind_classifier(embeddings, view_models, model_kinds, exclude=left_out)
    reference = kinds_module.fit_kind_classifier(embeddings[kept], view_models[kept], model_kinds)
    assert np.allclose(without.weights, reference.weights, atol=1e-6)
    everything = kinds_module.fit_kind_classifier(embeddings, view_models, model_kinds)
    assert not np.allclose(without.weights, everything.weights, atol=1e-3)


def test_a_kind_whose_models_are_all_left_out_disappears():
    embeddings, view_models, model_kinds = _clustered(2, seed=1)
    benches = {m for m, k in model_kinds.items() if k == "bench"}
    classifier = kinds_module.fit_kind_classifier(embeddings, view_models, model_kinds, exclude=benches)
    assert classifier.kinds == ("chair", "sofa")
    assert kinds_module.fit_kind_classifier(embeddings, view_models, model_kinds, exclude=set(model_kinds)) is None


def test_models_without_a_kind_are_skipped():
    embeddings, view_models, model_kinds = _clustered(2, seed=1)
    unknown = dict(model_kinds, **{m: None for m in model_kinds if m.startswith("sofa")})
    assert kinds_module.fit_kind_classifier(embeddings, view_models, unknown).kinds == ("bench", "chair")


def test_balanced_weights_share_equally_by_kind_then_model():
    labels = np.array([0, 0, 0, 0, 1, 1])
    groups = np.array(["a", "a", "a", "b", "c", "d"])
    weights = balanced_weights(labels, groups)
    # kind 0 and kind 1 get half each; in kind 0, model a (3 views) and b (1 view) a quarter each
    assert np.allclose(weights / weights.sum(), [1 / 12, 1 / 12, 1 / 12, 1 / 4, 1 / 4, 1 / 4])
    assert weights.mean() == pytest.approx(1.0)


def test_the_index_classifier_is_cached_and_refitted_when_the_index_changes(collection, cameras, monkeypatch):
    first = collection_kind_classifier(collection)
    path = collection.root / CACHE_FILE
    assert first.kinds == ("chair", "sofa", "stool") and path.exists()

    fits = []
    real_fit = kinds_module.fit_kind_classifier
    monkeypatch.setattr(kinds_module, "fit_kind_classifier", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    again = collection_kind_classifier(collection)
    assert fits == [] and np.array_equal(again.weights, first.weights)

    record = ModelRecord("lib#m9", "Model 9", "/x/m9.obj", "hash9", seat_kind="bench")
    collection.put_model(record, cameras, model_vectors(9, cameras), [None] * len(cameras))
    changed = collection_kind_classifier(collection)
    assert fits == [1] and changed.kinds == ("bench", "chair", "sofa", "stool")
    assert collection_kind_classifier(collection).kinds == changed.kinds and fits == [1]


def test_a_fit_with_held_out_models_neither_reads_nor_writes_the_cache(collection, monkeypatch):
    path = collection.root / CACHE_FILE
    without_sofa = collection_kind_classifier(collection, exclude={"lib#m2"})
    assert without_sofa.kinds == ("chair", "stool") and not path.exists()
    collection_kind_classifier(collection)
    cached = path.read_bytes()
    assert collection_kind_classifier(collection, exclude={"lib#m2"}).kinds == ("chair", "stool")
    assert path.read_bytes() == cached


def test_a_corrupt_cache_is_refitted(collection):
    path = collection.root / CACHE_FILE
    path.write_bytes(b"not an npz file")
    assert collection_kind_classifier(collection).kinds == ("chair", "sofa", "stool")
    assert KindClassifier.load(path, "another key") is None
    assert np.load(path)["kinds"].tolist() == ["chair", "sofa", "stool"]
