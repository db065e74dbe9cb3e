"""The search answer's pose distribution, symmetry and calibrated error bars over HTTP (tiny index)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from index.calibration import FEATURES, PoseCalibration
from render.cameras import angles_to_camera
from tests.conftest import render_rgb


def _photo(path, polar: float, azimuth: float) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(render_rgb(path, angles_to_camera(polar, azimuth)[None], 64)[0]).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def calibration_file(tiny_index_settings, tmp_path_factory):
    """A calibration fitted 'for' the tiny index: a constant 68 % bound of 20 deg and 90 % of 50 deg."""
    manifest = json.loads((tiny_index_settings.resolved_index_dir / "manifest.json").read_text())
    constant = lambda deg: [float(np.log1p(deg))] + [0.0] * (len(FEATURES) - 1)
    path = tmp_path_factory.mktemp("calibration") / "tiny.json"
    PoseCalibration({"0.68": constant(20.0), "0.9": constant(50.0)},
                    {"embedder": manifest["embedder"]["name"], "embedder_info": manifest["embedder"],
                     "views": manifest["views"]}).save(path)
    return path


def test_every_result_carries_alternatives_and_symmetry(tiny_index_settings, tiny_embedder, tiny_cad_dir):
    with TestClient(create_app(tiny_index_settings, tiny_embedder)) as client:
        body = client.post("/api/search", files={"image": ("s.png", _photo(tiny_cad_dir / "stool.ply", 60, 20))},
                           data={"top_k": "3", "polar": "60", "azimuth": "20"}).json()
        stool_info = client.get("/api/models/test%23stool").json()
    results = {r["model_id"]: r for r in body["results"]}
    for result in results.values():
        assert isinstance(result["pose"]["alternatives"], list) and 0 < result["pose"]["probability"] <= 1
        assert result["symmetry"]["label"] in {"none", "C2", "C3", "C4", "C6", "continuous"}
        assert result["expected_error_calibrated"] is False  # the shipped calibration is not for this index
    stool = results["test#stool"]
    assert stool["symmetry"]["label"] == "C3" and stool["symmetry"]["azimuth_ambiguous"] is True
    assert stool["symmetric_angular_error_deg"] <= stool["angular_error_deg"]
    assert stool_info["symmetry"] == stool["symmetry"]
    assert results["test#box_chair"]["symmetry"]["mirror_left_right"] is True


def test_a_calibration_for_the_index_sets_the_error_bars(tiny_index_settings, tiny_embedder, tiny_cad_dir,
                                                         calibration_file):
    settings = tiny_index_settings.model_copy(update={"pose_calibration": calibration_file})
    with TestClient(create_app(settings, tiny_embedder)) as client:
        body = client.post("/api/search", files={"image": ("c.png", _photo(tiny_cad_dir / "box_chair.glb", 57, 33))},
                           data={"top_k": "2"}).json()
    for result in body["results"]:
        assert result["expected_error_calibrated"] is True
        assert result["expected_error_deg"] == pytest.approx(20.0, abs=0.01)
        assert result["error_90_deg"] == pytest.approx(50.0, abs=0.01)
