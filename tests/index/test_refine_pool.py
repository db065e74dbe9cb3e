"""The service's refiner: says what it did (moved, unchanged, render failed, busy) and never holds up
ordinary searches."""

import dataclasses
import io
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import index.refine
from app.main import create_app
from index.collection import Collection
from index.refine import MatchRefiner
from index.search import Searcher
from render.cameras import angles_to_camera
from tests.conftest import render_rgb


@pytest.fixture(scope="module")
def searcher(tiny_index_settings, tiny_embedder):
    collection = Collection.open(tiny_index_settings.resolved_index_dir)
    yield Searcher(collection, tiny_embedder)
    collection.close()


def _grid_view_query(searcher, tiny_cad_dir):
    """A render of the box chair exactly at one of its indexed cameras, and the searcher's answer."""
    rows = np.flatnonzero(searcher.views.model_ids == "test#box_chair")
    camera = searcher.views.cameras[rows[len(rows) // 2]]
    image = render_rgb(tiny_cad_dir / "box_chair.glb", camera[None], 64)[0]
    vector = searcher.embed(image[None])
    return camera, vector[0], searcher.search_embeddings(vector, top_k=1)[0].matches[0]


def _refined(searcher, match, vector):
    refiner = MatchRefiner()
    try:
        return refiner.refine(searcher, match, vector)
    finally:
        refiner.close()


def test_refine_says_unchanged_when_the_estimate_already_matches_best(searcher, tiny_cad_dir):
    camera, vector, match = _grid_view_query(searcher, tiny_cad_dir)
    match = dataclasses.replace(match, pose=dataclasses.replace(match.pose, camera=camera))
    refined = _refined(searcher, match, vector)
    assert refined.refined is False and refined.refine_status.startswith("unchanged")
    np.testing.assert_allclose(refined.pose.camera, camera)


def test_refine_says_so_when_rendering_fails(searcher, tiny_cad_dir):
    _, vector, match = _grid_view_query(searcher, tiny_cad_dir)
    broken = dataclasses.replace(match, record=dataclasses.replace(match.record, file_path="/no/such.glb"))
    refined = _refined(searcher, broken, vector)
    assert refined.refined is False and refined.refine_status.startswith("render failed")
    assert refined.pose is broken.pose


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_refine_requests_in_progress_do_not_block_searches(tiny_index_settings, tiny_embedder, tiny_cad_dir,
                                                           monkeypatch):
    entered, release = threading.Event(), threading.Event()

    def stuck(session, searcher, record, query, camera, radii_deg, ring):
        entered.set()
        release.wait(60)
        return np.asarray(camera), None

    monkeypatch.setattr(index.refine, "search_rings", stuck)
    photo = _png(render_rgb(tiny_cad_dir / "box_chair.glb", angles_to_camera(57.0, 33.0)[None], 64)[0])
    files = {"image": ("chair.png", photo, "image/png")}
    settings = tiny_index_settings.model_copy(update={"refine_workers": 1, "refine_queue": 0})
    with TestClient(create_app(settings, tiny_embedder)) as client:
        slow = threading.Thread(target=client.post, args=("/api/search",),
                                kwargs={"files": files, "data": {"refine": "true"}})
        slow.start()
        try:
            assert entered.wait(60)  # the only render worker is now busy
            plain = client.post("/api/search", files=files)
            busy = client.post("/api/search", files=files, data={"refine": "true"})
        finally:
            release.set()
            slow.join(60)
    assert plain.status_code == 200 and plain.json()["results"][0]["refine_status"] is None
    best = busy.json()["results"][0]
    assert best["refine_status"].startswith("busy") and best["pose_refined"] is False
