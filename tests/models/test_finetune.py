"""Fine-tuning Lite0's top blocks on a tiny real set: the cut reproduces Lite0's vectors, cached trunk
activations of renders and stored views, a training run whose loss falls and whose top moves, the saved
network reloads, and an interrupted run resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import models.train_adapter as train_module
from index.build import view_cameras
from index.collection import Collection
from models.adapter_features import FeatureConfig, query_features
from models.finetune import (
    FinetuneConfig,
    clean_activations,
    lite0_parts,
    load_finetuned,
    pooled_features,
    train_finetune,
)
from models.train_adapter import embed_rows, is_trained
from models.training_data import TrainingModel
from models.weights import prepare_weights
from tests.conftest import TINY_MODELS

SIZE = 96
FEATURES = FeatureConfig(render_size_px=48, input_size_px=SIZE, queries=12, material_jobs=2)
TINY = FinetuneConfig(first_block=15, hidden_dim=32, embedding_dim=16, epochs=6, batch_size=8, learning_rate=3e-3,
                      val_fraction=0.2)


@pytest.fixture(scope="module")
def lite0_file(weights_dir):
    return prepare_weights("efficientnet_lite0", weights_dir, progress=False)


@pytest.fixture(scope="module")
def tiny_set(tiny_cad_dir, tiny_index_settings, lite0_file, tmp_path_factory):
    models = [TrainingModel(f"test#{name}", str(tiny_cad_dir / f"{name}.{ext}"), kind)
              for name, (ext, kind) in TINY_MODELS.items()]
    trunk, _ = lite0_parts(lite0_file, TINY.first_block, SIZE)
    backgrounds = np.random.default_rng(0).integers(0, 256, (6, SIZE, SIZE, 3), dtype=np.uint8)
    cache = tmp_path_factory.mktemp("activations")
    queries = query_features(models, trunk, backgrounds, FEATURES, cache / "queries", workers=1, progress=False,
                             normalise=False)
    index = tiny_index_settings.resolved_index_dir
    collection = Collection.open(index)
    table, grid = collection.store.view_table(), view_cameras(collection.view_config)
    collection.close()
    clean = clean_activations(index, table, trunk, cache / "clean", progress=False)
    return models, queries, clean, grid


def _train(tiny_set, lite0_file, out, config=TINY) -> dict:
    models, queries, clean, grid = tiny_set
    _, top = lite0_parts(lite0_file, config.first_block, SIZE)
    return train_finetune(queries, clean.for_models(queries.model_ids), [m.seat_kind for m in models], grid, top,
                          out, config, {"test": True}, progress=False)


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


def test_training_lowers_the_loss_moves_the_top_and_reloads(tiny_set, lite0_file, tmp_path) -> None:
    manifest = _train(tiny_set, lite0_file, tmp_path / "net")
    history = manifest["history"]
    assert len(history) == TINY.epochs and history[-1]["loss"] < 0.7 * history[0]["loss"]
    saved = json.loads((tmp_path / "net" / "manifest.json").read_text())
    assert saved["kind"] == "lite0 top-block fine-tuning run" and saved["config"]["first_block"] == 15
    assert saved["metrics"]["val"]["queries"] == round(0.2 * 3 * FEATURES.queries)
    assert 0 <= saved["metrics"]["val_backbone_only"]["top1"] <= 1 and is_trained(tmp_path / "net")
    assert not (tmp_path / "net" / "checkpoint").exists()
    trunk, model, config = load_finetuned(tmp_path / "net", lite0_file)
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


def test_an_interrupted_run_resumes_after_its_last_epoch(tiny_set, lite0_file, tmp_path, monkeypatch) -> None:
    out, real_epoch = tmp_path / "net", train_module.run_epoch

    def interrupted(step, data, config, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_epoch(step, data, config, epoch)

    monkeypatch.setattr(train_module, "run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_set, lite0_file, out)
    before = json.loads((out / "progress.json").read_text())["history"]
    started = []
    monkeypatch.setattr(train_module, "run_epoch", lambda s, d, c, e: started.append(e) or real_epoch(s, d, c, e))
    manifest = _train(tiny_set, lite0_file, out)
    assert len(before) == 2 and started[0] == 2 and manifest["history"][:2] == before


def test_the_control_run_keeps_the_top_frozen(tiny_set, lite0_file, tmp_path) -> None:
    config = FinetuneConfig(**{**TINY.to_json(), "train_top": False, "epochs": 2})
    _train(tiny_set, lite0_file, tmp_path / "net", config)
    _, model, _ = load_finetuned(tmp_path / "net", lite0_file)
    _, fresh = lite0_parts(lite0_file, 15, SIZE)
    assert all(np.allclose(a, b) for a, b in zip(model.get_layer(fresh.name).get_weights(), fresh.get_weights()))
