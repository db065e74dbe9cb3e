"""Fine-tuning Lite0's top blocks on a tiny real set: the cut reproduces Lite0's vectors, cached trunk
activations of renders and stored views, a training run whose loss falls and whose top moves, the saved
network reloads and serves as the lite0_finetuned embedder, and an interrupted run resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import models.train_adapter as train_module
from models.adapter_features import FeatureConfig
from models.finetune import (
    FinetuneConfig,
    lite0_parts,
    load_finetuned,
    pooled_features,
    train_finetune,
)
from models.train import TrainingError
from models.train_adapter import embed_rows, is_trained
from models.weights import prepare_weights
from tests.conftest import tiny_activations

SIZE = 96
FEATURES = FeatureConfig(render_size_px=48, input_size_px=SIZE, queries=12, material_jobs=2)
TINY = FinetuneConfig(first_block=15, hidden_dim=32, embedding_dim=16, epochs=6, batch_size=8, learning_rate=3e-3,
                      val_fraction=0.2)


@pytest.fixture(scope="module")
def lite0_file(weights_dir):
    return prepare_weights("efficientnet_lite0", weights_dir, progress=False)


@pytest.fixture(scope="module")
def tiny_set(tiny_cad_dir, tiny_index_settings, lite0_file, tmp_path_factory):
    return tiny_activations(tiny_cad_dir, tiny_index_settings.resolved_index_dir, lite0_file, TINY.first_block,
                            SIZE, FEATURES, tmp_path_factory.mktemp("activations"))


@pytest.fixture(scope="module")
def trained(tiny_set, lite0_file, tmp_path_factory):
    """(folder, manifest) of one TINY run, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("finetuned") / "net"
    return out, _train(tiny_set, lite0_file, out)


def _train(tiny_set, lite0_file, out, config=TINY, data=None) -> dict:
    models, queries, clean, grid = tiny_set
    _, top = lite0_parts(lite0_file, config.first_block, SIZE)
    return train_finetune(queries, clean.for_models(queries.model_ids), [m.seat_kind for m in models], grid, top,
                          out, config, data or {"test": True}, progress=False)


def test_the_frozen_top_of_the_trunk_gives_lite0s_vectors(lite0_file, tiny_embedder) -> None:
    trunk, top = lite0_parts(lite0_file, 11, SIZE)
    assert trunk.shape == (6, 6, 112)  # the input of the last stride-2 stage at 96 px
    images = np.random.default_rng(1).uniform(0, 255, (4, SIZE, SIZE, 3)).astype(np.float32)
    vectors = pooled_features(top)(trunk.embed_prepared(images).astype(np.float16))
    assert np.allclose(vectors, tiny_embedder.embed_prepared(images), atol=1e-3)


def test_activations_are_cached_float16_of_the_trunk_shape(tiny_set) -> None:
    _, queries, clean, _ = tiny_set
    width = 3 * 3 * 192  # input of block 15 at 96 px
    assert queries.features.shape == (3 * FEATURES.queries, width) and queries.features.dtype == np.float16
    assert clean.features.shape[1] == width and np.abs(clean.features).sum(axis=1).min() > 0
    assert len(set(clean.model_ids)) == 3


def test_training_lowers_the_loss_moves_the_top_and_reloads(tiny_set, lite0_file, trained) -> None:
    folder, manifest = trained
    history = manifest["history"]
    assert len(history) == TINY.epochs and history[-1]["loss"] < 0.7 * history[0]["loss"]
    saved = json.loads((folder / "manifest.json").read_text())
    assert saved["kind"] == "lite0 top-block fine-tuning run" and saved["config"]["first_block"] == 15
    assert saved["metrics"]["val"]["queries"] == round(0.2 * 3 * FEATURES.queries)
    assert 0 <= saved["metrics"]["val_backbone_only"]["top1"] <= 1 and is_trained(folder)
    assert not (folder / "checkpoint").exists()
    trunk, model, config = load_finetuned(folder, lite0_file)
    assert trunk.shape == (3, 3, 192)
    _, fresh = lite0_parts(lite0_file, 15, SIZE)
    tuned = model.get_layer(fresh.name)
    kernel = "blocks_15_project_conv"
    assert not np.allclose(tuned.get_layer(kernel).get_weights()[0], fresh.get_layer(kernel).get_weights()[0])
    moments = [w for w in tuned.get_layer("blocks_15_bn2").weights if "moving" in w.path]
    assert all(np.allclose(w.numpy(), f) for w, f in zip(moments, fresh.get_layer("blocks_15_bn2").get_weights()[2:]))
    rows = tiny_set[1].features[:5]
    assert np.allclose(embed_rows(model, rows), np.asarray(
        model(rows.astype(np.float32), training=False)["embedding"]), atol=1e-5) and config.seat_kinds


def test_an_interrupted_run_resumes_after_its_last_epoch_on_the_same_data_only(tiny_set, lite0_file, tmp_path,
                                                                             monkeypatch, interrupt_training) -> None:
    out, real_epoch = tmp_path / "net", interrupt_training(2)
    data = {"render_seeds": [0], "extra_shapes": 3, "cache_seconds_this_run": 5.0}
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_set, lite0_file, out, data=data)
    before = json.loads((out / "progress.json").read_text())["history"]
    started = []
    monkeypatch.setattr(train_module, "run_epoch", lambda s, d, c, e: started.append(e) or real_epoch(s, d, c, e))
    with pytest.raises(TrainingError, match=r"other settings \(data: render_seeds\)"):
        _train(tiny_set, lite0_file, out, data=data | {"render_seeds": [0, 1]})
    with pytest.raises(TrainingError, match=r"data: extra_shapes, data: render_seeds"):
        _train(tiny_set, lite0_file, out, data={"render_seeds": (0, 1), "cache_seconds_this_run": 5.0})
    assert not started  # refused before any epoch
    manifest = _train(tiny_set, lite0_file, out, data=data | {"render_seeds": (0,), "cache_seconds_this_run": 0.1})
    assert len(before) == 2 and started[0] == 2 and manifest["history"][:2] == before
    assert manifest["epochs_done"] == TINY.epochs and manifest["data"]["render_seeds"] == (0,)


def test_the_control_run_keeps_the_top_frozen(tiny_set, lite0_file, tmp_path) -> None:
    config = FinetuneConfig(**{**TINY.to_json(), "train_top": False, "epochs": 2})
    _train(tiny_set, lite0_file, tmp_path / "net", config)
    _, model, _ = load_finetuned(tmp_path / "net", lite0_file)
    _, fresh = lite0_parts(lite0_file, 15, SIZE)
    assert all(np.allclose(a, b) for a, b in zip(model.get_layer(fresh.name).get_weights(), fresh.get_weights()))


def test_the_embedder_answers_the_trained_network_and_its_heads(lite0_file, trained, tmp_path) -> None:
    """FinetunedEmbedder (the service's lite0_finetuned) on uint8 images == the training path (trunk
    activations through the saved network), and its kind / view heads are the network's own logits."""
    from models.finetuned import FinetunedEmbedder, FinetunedModelError

    folder, _ = trained
    embedder = FinetunedEmbedder(folder, lite0_file)
    trunk, model, config = load_finetuned(folder, lite0_file)
    images = np.random.default_rng(2).integers(0, 256, (3, 120, 80, 3), dtype=np.uint8)
    prepared = embedder.prepare(images)
    assert prepared.shape == (3, SIZE, SIZE, 3)
    outputs = model(trunk.embed_prepared(prepared), training=False)
    vectors = embedder.embed(images)
    assert vectors.shape == (3, config.embedding_dim) == (3, embedder.info.dim)
    assert np.allclose(vectors, np.asarray(outputs["embedding"]), atol=1e-4)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for name, (weights, temperature) in {"kind": embedder.kind_head()[1:], "view": embedder.view_head()}.items():
        logits = (vectors @ weights[:-1] + weights[-1]) / temperature
        assert np.allclose(logits, np.asarray(outputs[name]), atol=1e-3 * np.abs(logits).max())
    assert embedder.kind_head()[0] == tuple(config.seat_kinds)
    assert embedder.info.name == "lite0_finetuned" and "blocks 15+" in embedder.info.weights
    assert embedder.spec.build().info == embedder.info
    with pytest.raises(FinetunedModelError, match="expected"):
        embedder.embed(np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(FinetunedModelError, match="train-finetune"):
        FinetunedEmbedder(tmp_path, lite0_file)


def test_the_shipped_network_is_the_default_embedder_and_never_saw_a_heldout_model(weights_dir, tmp_path) -> None:
    """What `photo2cad serve` loads on a fresh machine (no index yet): the shipped lite0_finetuned on the
    registry's Lite0 weights, answering a real photo; trained without the evaluation's held-out models."""
    from PIL import Image

    from app import bootstrap
    from app.finetune import SHIPPED_DIR
    from app.settings import Settings
    from catalogue.seats import SEAT_KINDS
    from evaluation.plan import EVALUATION_SEED
    from evaluation.splits import choose_heldout_models
    from models.training_data import shape_set_models
    from tests.conftest import TWO_SEATS_PHOTO

    root = SHIPPED_DIR.parents[2]
    settings = Settings(data_dir=tmp_path, weights_dir=weights_dir, _env_file=None)
    embedder = bootstrap.load_embedder(settings)
    assert settings.embedder == embedder.info.name == "lite0_finetuned"
    assert embedder.config == type(embedder.config).load(SHIPPED_DIR / "config.json")
    photo = np.asarray(Image.open(TWO_SEATS_PHOTO).convert("RGB"))[None]
    vector = embedder.embed(photo)
    assert vector.shape == (1, 256) and np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)
    assert sorted(embedder.kind_head()[0]) == sorted(SEAT_KINDS)
    data = embedder.config.extra["manifest"]["data"]
    excluded, trained = data["heldout_models_excluded"], embedder.config.model_ids
    assert data["split_seed"] == EVALUATION_SEED and excluded and not set(trained) & set(excluded)
    shapes = {m.model_id for path in data.get("extra_shape_sets", []) for m in shape_set_models(root / path)}
    assert len(shapes) == data.get("extra_shapes", 0) and shapes <= set(trained)
    # The evaluation draws its held-out models from the catalogue's ids (the extra shapes are not in it).
    catalogue = sorted(set(trained) - shapes | set(excluded))
    assert choose_heldout_models(catalogue, 0.2, np.random.default_rng(EVALUATION_SEED)) == sorted(excluded)


def test_imagenet_classifier_reads_the_embedders_trunk(lite0_file, trained) -> None:
    """The fine-tuned embedder's ImageNet classifier answers as ImageNet's whole classifier does, running only
    the rest of Lite0 for images the embedder has just embedded (their trunk activations remembered)."""
    from models.finetuned import FinetunedEmbedder
    from models.imagenet_classifier import ImagenetClassifier

    folder, _ = trained
    embedder = FinetunedEmbedder(folder, lite0_file)
    classifier = embedder.imagenet_classifier()
    assert embedder.imagenet_classifier() is classifier
    images = np.random.default_rng(3).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    alone = ImagenetClassifier(lite0_file, SIZE).probabilities(images)
    cold = classifier.probabilities(images)  # not embedded yet: the trunk runs here
    assert (classifier.cache.hits, classifier.cache.misses) == (0, 3)
    embedder.embed(np.concatenate([images, images[:, :, ::-1]]))  # as index.scene: crops and mirror images
    warm = classifier.probabilities(images)
    assert (classifier.cache.hits, classifier.cache.misses) == (3, 3)
    np.testing.assert_allclose(cold, alone, atol=1e-5)
    np.testing.assert_allclose(warm, alone, atol=1e-5)
    assert classifier.probabilities(np.zeros((0, SIZE, SIZE, 3), np.uint8)).shape == (0, 1000)


def test_the_activation_cache_keeps_the_most_recently_used() -> None:
    from models.trunk_classifier import ActivationCache

    cache = ActivationCache(size=2)
    inputs = np.arange(3 * 4 * 4 * 3, dtype=np.float32).reshape(3, 4, 4, 3)
    cache.put(inputs[:2], np.array([[0.0], [1.0]]))
    assert cache.get(inputs[0])[0] == 0.0  # now the most recent
    cache.put(inputs[2:], np.array([[2.0]]))  # drops inputs[1], the least recently used
    assert cache.get(inputs[1]) is None and cache.get(inputs[0])[0] == 0.0 and cache.get(inputs[2])[0] == 2.0
    assert (cache.hits, cache.misses) == (3, 1)
