"""The service on a tiny really-trained lite0_finetuned: selected through the settings
(PHOTO2CAD_EMBEDDER=lite0_finetuned), its index rendered and embedded by it, real HTTP searches answered with
its own seat-kind head, `photo2cad train-finetune` resuming into its folder, and an index of other weights
refused."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app import bootstrap
from app.finetune import load_finetuned_embedder
from app.main import create_app
from app.settings import Settings
from index.collection import Collection, CollectionError
from index.kind_calibration import KIND_TEMPERATURES, WHOLE_IMAGE_KIND_TEMPERATURES
from models.adapter_features import FeatureConfig
from models.finetune import FinetuneConfig, lite0_parts, train_finetune
from models.finetuned import WEIGHTS_FILE
from models.trunk_classifier import TrunkImagenetClassifier
from models.weights import prepare_weights
from render.cameras import sphere_cameras
from tests.conftest import TINY_MODELS, render_rgb, tiny_activations

SIZE = 96
FEATURES = FeatureConfig(render_size_px=48, input_size_px=SIZE, queries=8, material_jobs=1)
CONFIG = FinetuneConfig(first_block=15, hidden_dim=32, embedding_dim=16, epochs=4, batch_size=8, learning_rate=3e-3)


@pytest.fixture(scope="module")
def finetuned_settings(tmp_path_factory, tiny_cad_dir, tiny_index_settings) -> Settings:
    """A network fine-tuned on the tiny models, and the settings of a service using it (index built here)."""
    lite0 = prepare_weights("efficientnet_lite0", tiny_index_settings.weights_dir, progress=False)
    models, queries, clean, grid = tiny_activations(tiny_cad_dir, tiny_index_settings.resolved_index_dir, lite0,
                                                    CONFIG.first_block, SIZE, FEATURES,
                                                    tmp_path_factory.mktemp("activations"))
    _, top = lite0_parts(lite0, CONFIG.first_block, SIZE)
    folder = tmp_path_factory.mktemp("finetuned")
    train_finetune(queries, clean.for_models(queries.model_ids), [m.seat_kind for m in models], grid, top, folder,
                   CONFIG, progress=False)
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), embedder="lite0_finetuned",
                        finetuned_model_dir=folder, weights_dir=tiny_index_settings.weights_dir, view_size_px=64,
                        view_count=2, render_workers=1, _env_file=None)
    for name, (ext, kind) in TINY_MODELS.items():
        report = bootstrap.add_files(settings, [tiny_cad_dir / f"{name}.{ext}"], model_id=f"test#{name}",
                                     seat_kind=kind, licence="CC0")
        assert not report.failed, report.failed
    return settings


def test_the_service_searches_with_the_finetuned_network(finetuned_settings, tiny_cad_dir) -> None:
    camera = sphere_cameras(2, "icosphere", (20.0, 90.0), 0)[5]  # an indexed view
    image = render_rgb(tiny_cad_dir / "sofa.glb", camera[None], 64)[0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    with TestClient(create_app(finetuned_settings)) as client:
        health = client.get("/api/health").json()
        response = client.post("/api/search", files={"image": ("s.png", buffer.getvalue(), "image/png")})
        services = client.app.state.services
    assert health["embedder"]["name"] == "lite0_finetuned" and health["embedder"]["dim"] == 16
    assert health["index"]["models"] == 3
    assert response.status_code == 200, response.text
    answer = response.json()
    kinds, weights, _ = services.embedder.kind_head()  # the network's own seat-kind head answers kinds
    assert services.searcher.kind_classifier.kinds == kinds
    assert np.array_equal(services.searcher.kind_classifier.weights, weights)
    assert services.searcher.kind_temperature == KIND_TEMPERATURES["lite0_finetuned"]  # fitted on real photos
    assert services.searcher.whole_image_kind_temperature == WHOLE_IMAGE_KIND_TEMPERATURES["lite0_finetuned"]
    # ImageNet's classifier on the registry weights and the embedder's own trunk weighs in the seat kind
    assert isinstance(services.searcher.imagenet, TrunkImagenetClassifier)
    assert services.searcher.imagenet is services.embedder.imagenet_classifier()
    best = answer["results"][0]
    assert best["model_id"] == "test#sofa" and best["score"] > 0.95
    assert sum(c["probability"] for c in answer["categories"]) == pytest.approx(1.0, abs=1e-3)


def test_an_index_from_other_finetuned_weights_is_refused(finetuned_settings, tmp_path) -> None:
    other = tmp_path / "other"
    shutil.copytree(finetuned_settings.finetuned_model_dir, other)
    embedder = load_finetuned_embedder(finetuned_settings, other)
    layer = embedder._network.get_layer("lite0_adapter").get_layer("hidden")
    layer.set_weights([w + 0.1 for w in layer.get_weights()])
    embedder._network.save_weights(other / WEIGHTS_FILE)
    collection = Collection.open(finetuned_settings.resolved_index_dir)
    try:
        with pytest.raises(CollectionError, match="rebuild the index"):
            collection.check_embedder(load_finetuned_embedder(finetuned_settings, other).info)
        collection.check_embedder(load_finetuned_embedder(finetuned_settings).info)  # its own weights pass
    finally:
        collection.close()


def test_train_finetune_command_refuses_a_trained_folder_without_force(finetuned_settings, capsys) -> None:
    from app.cli import main

    folder = finetuned_settings.finetuned_model_dir
    before = (folder / WEIGHTS_FILE).read_bytes()
    assert main(["train-finetune", "--out", str(folder)]) == 0
    assert "already holds a trained network (--force to train again)" in capsys.readouterr().out
    assert (folder / WEIGHTS_FILE).read_bytes() == before
    assert json.loads((folder / "manifest.json").read_text())["kind"] == "lite0 top-block fine-tuning run"


def test_render_seeds_stack_distinct_renders_of_every_model(tiny_cad_dir, tiny_index_settings, tmp_path) -> None:
    from dataclasses import replace

    from app.finetune import _randomised
    from models.adapter_features import model_cameras, stack_queries
    from models.training_data import TrainingDataError, TrainingModel

    models = [TrainingModel(f"test#{name}", str(tiny_cad_dir / f"{name}.{ext}"), kind)
              for name, (ext, kind) in TINY_MODELS.items()]
    trunk, _ = lite0_parts(prepare_weights("efficientnet_lite0", tiny_index_settings.weights_dir, progress=False),
                           CONFIG.first_block, SIZE)
    panorama = np.random.default_rng(0).integers(0, 256, (64, 128, 3), dtype=np.uint8)
    settings = Settings(data_dir=tmp_path, render_workers=1, _env_file=None)
    one = _randomised(models, trunk, [panorama], FEATURES, [0], tmp_path / "cache", settings, False)
    both = _randomised(models, trunk, [panorama], FEATURES, [0, 1], tmp_path / "cache", settings, False)
    n = len(one.features)
    assert n == len(models) * FEATURES.queries and len(both.features) == 2 * n
    assert both.model_ids == one.model_ids and np.array_equal(both.model, np.concatenate([one.model, one.model]))
    assert np.array_equal(both.features[:n], one.features)  # seed 0 as a single-seed run draws it
    assert np.abs(both.features[n:].astype(np.float32) - one.features.astype(np.float32)).mean() > 1e-2
    seed1 = np.concatenate([model_cameras(m.model_id, replace(FEATURES, seed=1)) for m in models])
    assert np.allclose(both.cameras[n:], seed1) and not np.allclose(seed1, one.cameras)
    with pytest.raises(TrainingDataError, match="same models"):
        stack_queries([one, replace(one, model_ids=one.model_ids[::-1])])
