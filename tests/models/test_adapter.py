"""The Lite0 adapter on a tiny real set: cached randomised features, a training run whose loss falls,
the manifest, resume after an interruption, refusal of other settings, and the embedder interface."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import models.adapter_features as features_module
import models.train_adapter as train_module
from app.adapter import clean_views
from index.build import view_cameras
from models.adapter import AdapterEmbedder
from models.adapter_features import FeatureConfig, query_features
from models.augment import AugmentConfig
from models.embedder import PreparedEmbedder
from models.train import TrainingError
from models.train_adapter import AdapterTrainConfig, is_trained, train_adapter
from models.training_data import TrainingModel
from tests.conftest import TINY_MODELS

FEATURES = FeatureConfig(render_size_px=48, input_size_px=96, queries=12, material_jobs=2, p_random_materials=0.5,
                         augment=AugmentConfig(p_occlusion=0.5, p_motion_blur=0.5, p_jpeg=0.5))
TINY = AdapterTrainConfig(hidden_dim=32, embedding_dim=16, epochs=12, batch_size=8, learning_rate=1e-2,
                          val_fraction=0.2)


@pytest.fixture(scope="module")
def tiny_features(tiny_cad_dir, tiny_embedder, tmp_path_factory):
    models = [TrainingModel(f"test#{name}", str(tiny_cad_dir / f"{name}.{ext}"), kind)
              for name, (ext, kind) in TINY_MODELS.items()]
    backgrounds = np.random.default_rng(0).integers(0, 256, (6, 96, 96, 3), dtype=np.uint8)
    cache = tmp_path_factory.mktemp("features")
    queries = query_features(models, tiny_embedder, backgrounds, FEATURES, cache, workers=1, progress=False)
    return models, backgrounds, cache, queries


@pytest.fixture(scope="module")
def tiny_clean(tiny_features, tiny_index_settings, tiny_embedder):
    _, _, _, queries = tiny_features
    return clean_views(tiny_index_settings.resolved_index_dir, tiny_embedder.info, queries.model_ids)


def _train(tiny_features, tiny_clean, tiny_index_settings, out: Path, config: AdapterTrainConfig = TINY,
           data: dict | None = None) -> dict:
    models, _, _, queries = tiny_features
    return train_adapter(queries, tiny_clean, [m.seat_kind for m in models],
                         view_cameras(tiny_index_settings.view_config()), out, config, data or {"test": True},
                         progress=False)


def test_features_are_unit_rows_cached_per_model(tiny_features, tiny_embedder, monkeypatch) -> None:
    models, backgrounds, cache, queries = tiny_features
    assert queries.features.shape == (3 * FEATURES.queries, tiny_embedder.info.dim)
    assert np.allclose(np.linalg.norm(queries.features, axis=1), 1.0, atol=1e-3)
    assert np.bincount(queries.model).tolist() == [FEATURES.queries] * 3 and len(list(cache.glob("*.npz"))) == 3

    def no_rendering(*args, **kwargs):
        raise AssertionError("cached features were rendered again")

    monkeypatch.setattr(features_module, "render_jobs", no_rendering)
    again = query_features(models, tiny_embedder, backgrounds, FEATURES, cache, workers=1, progress=False)
    assert np.array_equal(again.features, queries.features)
    with pytest.raises(AssertionError, match="rendered again"):  # other backgrounds: not from the cache
        query_features(models, tiny_embedder, backgrounds[::-1], FEATURES, cache, workers=1, progress=False)


def test_training_lowers_the_loss_and_writes_a_manifest(tiny_features, tiny_clean, tiny_index_settings,
                                                        tmp_path) -> None:
    manifest = _train(tiny_features, tiny_clean, tiny_index_settings, tmp_path / "adapter")
    history = manifest["history"]
    assert len(history) == TINY.epochs and history[-1]["loss"] < 0.7 * history[0]["loss"]
    assert history[-1]["metric"] < history[0]["metric"]
    saved = json.loads((tmp_path / "adapter" / "manifest.json").read_text())
    assert saved["config"]["epochs"] == TINY.epochs and saved["data"]["models"] == 3 and saved["data"]["test"]
    assert saved["data"]["query_images"] + saved["data"]["validation_queries"] == 3 * FEATURES.queries
    assert "tensorflow" in json.dumps(saved["versions"]) and saved["training_seconds"] > 0
    assert is_trained(tmp_path / "adapter") and not (tmp_path / "adapter" / "checkpoint").exists()


def test_select_queries_by_count_and_materials(tiny_features) -> None:
    queries = tiny_features[3]
    few = train_module.select_queries(queries, AdapterTrainConfig(queries_per_model=5))
    assert np.bincount(few.model).tolist() == [5, 5, 5]
    assert np.array_equal(few.features[5:10], queries.features[queries.model == 1][:5])
    own = train_module.select_queries(queries, AdapterTrainConfig(materials="own"))
    recoloured = train_module.select_queries(queries, AdapterTrainConfig(materials="random"))
    assert len(own.model) + len(recoloured.model) == len(queries.model)
    assert not own.random_materials.any() and recoloured.random_materials.all()
    with pytest.raises(TrainingError):
        train_module.select_queries(queries, AdapterTrainConfig(materials="some"))


def test_an_interrupted_run_resumes_after_its_last_epoch(tiny_features, tiny_clean, tiny_index_settings,
                                                         tmp_path, monkeypatch, interrupt_training) -> None:
    out = tmp_path / "adapter"
    real_epoch = interrupt_training(3)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_features, tiny_clean, tiny_index_settings, out)
    before = json.loads((out / "progress.json").read_text())["history"]
    assert len(before) == 3 and not is_trained(out)
    started = []
    monkeypatch.setattr(train_module, "run_epoch", lambda s, d, c, e: started.append(e) or real_epoch(s, d, c, e))
    manifest = _train(tiny_features, tiny_clean, tiny_index_settings, out)
    assert started[0] == 3 and manifest["history"][:3] == before and manifest["epochs_done"] == TINY.epochs
    assert manifest["history"][-1]["loss"] < before[0]["loss"]


def test_a_folder_with_other_settings_is_refused(tiny_features, tiny_clean, tiny_index_settings, tmp_path) -> None:
    out = tmp_path / "adapter"
    _train(tiny_features, tiny_clean, tiny_index_settings, out, AdapterTrainConfig(**{**TINY.to_json(), "epochs": 1}))
    with pytest.raises(TrainingError, match="other settings"):
        _train(tiny_features, tiny_clean, tiny_index_settings, out, AdapterTrainConfig(**{**TINY.to_json(),
                                                                                        "epochs": 1, "seed": 5}))
    with pytest.raises(TrainingError, match=r"other settings \(data: test\)"):  # other training data
        _train(tiny_features, tiny_clean, tiny_index_settings, out, AdapterTrainConfig(**{**TINY.to_json(),
                                                                                        "epochs": 1}), {"test": 2})


def test_the_embedder_maps_images_and_exposes_its_kind_and_view_heads(tiny_features, tiny_clean, tiny_index_settings,
                                                             tiny_embedder, tmp_path) -> None:
    _train(tiny_features, tiny_clean, tiny_index_settings, tmp_path / "adapter")
    embedder = AdapterEmbedder(tmp_path / "adapter", tiny_embedder)
    assert isinstance(embedder, PreparedEmbedder) and embedder.info.name == "lite0_adapter"
    images = np.random.default_rng(1).integers(0, 256, (3, 50, 70, 3), dtype=np.uint8)
    vectors = embedder.embed(images)
    assert vectors.shape == (3, 16) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(embedder.embed_prepared(embedder.prepare(images)), vectors, atol=1e-5)
    kinds, weights, temperature = embedder.kind_head()
    logits = embedder._model(tiny_embedder.embed(images), training=False)["kind"].numpy()
    assert kinds == ("chair", "sofa", "stool") and weights.shape == (17, 3)
    assert np.allclose((vectors @ weights[:-1] + weights[-1]) / temperature, logits, atol=1e-3)
    weights, temperature = embedder.view_head()
    logits = embedder._model(tiny_embedder.embed(images), training=False)["view"].numpy()
    assert weights.shape == (17, len(view_cameras(tiny_index_settings.view_config())))
    assert np.allclose((vectors @ weights[:-1] + weights[-1]) / temperature, logits, atol=1e-3)
    with pytest.raises(ValueError):
        embedder.embed(np.zeros((1, 8, 8), np.uint8))


def test_extra_shapes_get_their_own_clean_index_and_join_the_training(tiny_features, tiny_clean, tiny_embedder,
                                                                      tiny_index_settings, tmp_path,
                                                                      monkeypatch) -> None:
    from dataclasses import replace

    import index.build as build_module
    from app.adapter import SHAPES_VIEW_COUNT, index_training_shapes, join_training_sets
    from models.training_data import shape_set_models
    from render.cameras import sphere_cameras

    shapes = shape_set_models(Path("training_shapes/infinigen/manifest.json"), kinds=("office_chair", "bench"))
    shapes = [next(s for s in shapes if s.seat_kind == k) for k in ("office_chair", "bench")]
    models, backgrounds, cache, queries = tiny_features
    index_training_shapes(tiny_index_settings, shapes, tmp_path / "shapes", tiny_embedder, progress=False)
    grid = len(sphere_cameras(SHAPES_VIEW_COUNT, "icosphere", (20.0, 90.0), 0))
    more_clean = clean_views(tmp_path / "shapes", tiny_embedder.info, [s.model_id for s in shapes])
    assert np.bincount(more_clean.model).tolist() == [grid, grid]

    def no_rendering(*args, **kwargs):
        raise AssertionError("indexed shapes were rendered again")

    monkeypatch.setattr(build_module, "render_jobs", no_rendering)
    index_training_shapes(tiny_index_settings, shapes, tmp_path / "shapes", tiny_embedder, progress=False)
    more = query_features(shapes, tiny_embedder, backgrounds, replace(FEATURES, queries=6), cache, workers=1,
                          progress=False)
    joined, clean = join_training_sets(queries, tiny_clean, more, more_clean)
    assert joined.model_ids == queries.model_ids + [s.model_id for s in shapes]
    assert np.array_equal(np.bincount(joined.model), [FEATURES.queries] * 3 + [6, 6])
    assert np.array_equal(np.bincount(clean.model)[3:], [grid, grid])
    manifest = train_adapter(joined, clean, [m.seat_kind for m in models] + ["office_chair", "bench"],
                             view_cameras(tiny_index_settings.view_config()), tmp_path / "adapter", TINY,
                             progress=False)
    assert manifest["data"]["models"] == 5 and manifest["data"]["seat_kinds"] == sorted(
        {"chair", "stool", "sofa", "office_chair", "bench"})
    with pytest.raises(TrainingError, match="no model id"):
        join_training_sets(queries, tiny_clean, queries, tiny_clean)


def test_a_kind_head_fitted_on_photo_like_vectors_answers_the_searcher(tiny_features, tiny_clean, tiny_embedder,
                                                                       tiny_index_settings, tmp_path) -> None:
    from dataclasses import replace

    from app.adapter import PhotoTrainingSet
    from app.kind_head import fit_kind_head, with_kind_head
    from app.settings import Settings
    from evaluation.leakage import TrainingData
    from index.collection import Collection
    from index.search import Searcher
    from models.kind_head import KindHead, WithKindHead, head_for

    models, _, _, queries = tiny_features
    data = PhotoTrainingSet(queries, tiny_clean, [m.seat_kind for m in models], {"panoramas": ["city.exr"]})
    head = fit_kind_head(data, tiny_embedder.info, l2=1.0)
    path = tmp_path / "head.npz"
    head.save(path)
    loaded = KindHead.load(path)
    assert loaded.kinds == ("chair", "sofa", "stool") and np.array_equal(loaded.weights, head.weights)
    seen = TrainingData.from_manifest(loaded.manifest)
    assert seen.models == tuple(queries.model_ids) and seen.panoramas == ("city.exr",)
    settings = Settings(**{**tiny_index_settings.model_dump(), "kind_head_file": path})
    embedder = with_kind_head(settings, tiny_embedder)
    assert isinstance(embedder, WithKindHead) and embedder.info == tiny_embedder.info
    images = np.random.default_rng(2).integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    assert np.array_equal(embedder.embed(images), tiny_embedder.embed(images))
    searcher = Searcher(Collection.open(tiny_index_settings.resolved_index_dir), embedder)
    assert np.array_equal(searcher.kind_classifier.weights, head.weights)
    right = np.array(searcher.kind_classifier.kinds)[searcher.kind_classifier.probabilities(
        queries.features).argmax(axis=1)] == np.array(data.kinds)[queries.model]
    assert right.mean() > 0.8  # it learnt the kinds of its training renders
    off = Settings(**{**tiny_index_settings.model_dump(), "kind_head_file": path, "kind_head": False})
    assert with_kind_head(off, tiny_embedder) is tiny_embedder
    other = head_for(replace(tiny_embedder.info, weights="other weights"), head.kinds, head.weights,
                     head.temperature, head.manifest)
    other.save(path)  # fitted for other weights: refused, the index's classifier answers
    assert with_kind_head(settings, tiny_embedder) is tiny_embedder
