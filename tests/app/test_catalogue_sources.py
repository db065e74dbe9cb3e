"""The default catalogue's committed packs through the service: indexed by ensure_index, licence, creator
and origin in /api/models, /api/models/{id} and search results."""

from __future__ import annotations

import io
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app import bootstrap
from app.main import create_app
from app.settings import Settings
from catalogue.entry import CatalogueError
from render.cameras import angles_to_camera
from tests.conftest import render_rgb


@pytest.fixture(scope="module")
def packs_settings(tmp_path_factory, tiny_embedder, weights_dir) -> Settings:
    """An index of the first two pack models (AWS RoboMaker's chairs A and D), 64 px, 12-view grid."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("packs"), weights_dir=weights_dir, view_size_px=64,
                        view_count=0, render_workers=1, catalogue_sources=["packs"], _env_file=None)
    report = bootstrap.ensure_index(settings, limit=2, embedder=tiny_embedder)
    assert not report.failed and len(report.added) == 2
    return settings


@pytest.fixture(scope="module")
def client(packs_settings, tiny_embedder):
    with TestClient(create_app(packs_settings, tiny_embedder)) as client:
        yield client


def test_models_show_licence_creator_and_origin(client) -> None:
    body = client.get("/api/models").json()
    assert body["count"] == 2
    for model in body["models"]:
        assert model["licence"] == "MIT-0" and model["creator"].startswith("Amazon.com")
        assert model["source"].startswith("github.com/aws-robotics/aws-robomaker-small-house-world/blob/")
    detail = client.get(f"/api/models/{quote('aws-robomaker#ChairA_01')}").json()
    assert detail["name"] == "AWS small house chair A" and detail["seat_kind"] == "chair"
    assert detail["licence"] == "MIT-0" and detail["views"] > 0


def test_search_results_carry_the_origin(client, packs_settings) -> None:
    model = packs_settings.catalogue_dir / "models"
    glb = next(model.glob("aws-robomaker_ChairA_01-*/*.glb"))
    buffer = io.BytesIO()
    Image.fromarray(render_rgb(glb, angles_to_camera(60.0, 20.0)[None], 64)[0]).save(buffer, format="PNG")
    response = client.post("/api/search", files={"image": ("chair.png", buffer.getvalue(), "image/png")})
    assert response.status_code == 200, response.text
    best = response.json()["results"][0]
    assert best["licence"] == "MIT-0" and best["source"].startswith("github.com/aws-robotics/")


def test_unknown_source_is_refused(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, catalogue_sources=["packs", "shapenet"], _env_file=None)
    with pytest.raises(CatalogueError, match="unknown catalogue source.*shapenet"):
        bootstrap.ensure_catalogue(settings)
