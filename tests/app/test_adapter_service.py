"""The service on a tiny really-trained lite0_adapter: its index derived from a Lite0 index, selected through
the settings (PHOTO2CAD_EMBEDDER=lite0_adapter), real HTTP searches, and an index of other weights refused."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.adapter import clean_views, derive_adapter_index, load_adapter_embedder
from app.main import create_app
from app.settings import Settings
from index.build import view_cameras
from index.collection import Collection, CollectionError
from models.adapter import load_adapter, save_adapter
from models.adapter_features import FeatureConfig, query_features
from models.train_adapter import AdapterTrainConfig, train_adapter
from models.training_data import TrainingModel
from render.cameras import sphere_cameras
from tests.conftest import TINY_MODELS, render_rgb

FEATURES = FeatureConfig(render_size_px=48, input_size_px=96, queries=8, material_jobs=1)
CONFIG = AdapterTrainConfig(hidden_dim=32, embedding_dim=16, epochs=8, batch_size=8, learning_rate=1e-2)


@pytest.fixture(scope="module")
def adapter_settings(tmp_path_factory, tiny_cad_dir, tiny_embedder, tiny_index_settings) -> Settings:
    models = [TrainingModel(f"test#{name}", str(tiny_cad_dir / f"{name}.{ext}"), kind)
              for name, (ext, kind) in TINY_MODELS.items()]
    backgrounds = np.random.default_rng(0).integers(0, 256, (4, 96, 96, 3), dtype=np.uint8)
    queries = query_features(models, tiny_embedder, backgrounds, FEATURES, tmp_path_factory.mktemp("cache"),
                             workers=1, progress=False)
    lite0_index = tiny_index_settings.resolved_index_dir
    folder = tmp_path_factory.mktemp("adapter")
    train_adapter(queries, clean_views(lite0_index, tiny_embedder.info, queries.model_ids),
                  [m.seat_kind for m in models], view_cameras(tiny_index_settings.view_config()), folder, CONFIG,
                  progress=False)
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), embedder="lite0_adapter", adapter_model_dir=folder,
                        weights_dir=tiny_index_settings.weights_dir, view_size_px=64, view_count=2,
                        render_workers=1, _env_file=None)
    derive_adapter_index(lite0_index, settings.resolved_index_dir, load_adapter_embedder(settings), "Flat",
                         {}).close()
    return settings


def test_the_service_searches_with_the_adapter(adapter_settings, tiny_cad_dir) -> None:
    camera = sphere_cameras(2, "icosphere", (20.0, 90.0), 0)[5]  # an indexed view
    image = render_rgb(tiny_cad_dir / "sofa.glb", camera[None], 64)[0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    with TestClient(create_app(adapter_settings)) as client:
        health = client.get("/api/health").json()
        assert health["embedder"]["name"] == "lite0_adapter" and health["embedder"]["dim"] == 16
        assert health["index"]["models"] == 3
        response = client.post("/api/search", files={"image": ("s.png", buffer.getvalue(), "image/png")})
        assert response.status_code == 200, response.text
        answer = response.json()
        view = client.get(answer["results"][0]["view_url"])
        services = client.app.state.services
    assert adapter_settings.batching and services.batchers is not None  # queries go through the batcher,
    kinds, weights, _ = services.embedder.kind_head()  # yet the seat kinds come from the adapter's own head
    assert services.searcher.kind_classifier.kinds == kinds
    assert np.array_equal(services.searcher.kind_classifier.weights, weights)
    best = answer["results"][0]
    assert best["model_id"] == "test#sofa" and best["score"] > 0.95
    assert answer["categories"][0]["label"] == "sofa"
    assert sum(c["probability"] for c in answer["categories"]) == pytest.approx(1.0, abs=1e-3)
    assert view.status_code == 200 and view.headers["content-type"] == "image/jpeg"


def test_an_index_from_other_adapter_weights_is_refused(adapter_settings, tmp_path) -> None:
    other = tmp_path / "other"
    shutil.copytree(adapter_settings.adapter_model_dir, other)
    model, config = load_adapter(other)
    hidden = model.get_layer("hidden")
    hidden.set_weights([w + 0.1 for w in hidden.get_weights()])
    save_adapter(model, config, other)
    embedder = load_adapter_embedder(adapter_settings, other)
    collection = Collection.open(adapter_settings.resolved_index_dir)
    try:
        with pytest.raises(CollectionError, match="rebuild the index"):
            collection.check_embedder(embedder.info)
        collection.check_embedder(load_adapter_embedder(adapter_settings).info)  # its own weights pass
    finally:
        collection.close()
