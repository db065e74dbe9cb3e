"""The per-seat `objects` contract over HTTP and the CLI, with the real detector (loaded once in the
lifespan) on a real photo with two seats, and the no-seat answer."""

from __future__ import annotations

import io
import json

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from models.detector import SeatDetector, box_iou
from tests.conftest import TWO_SEATS_PHOTO
from tests.models.test_detector import ARMCHAIR, OFFICE_CHAIR


@pytest.fixture(scope="module")
def client(tiny_index_settings, tiny_embedder, detector_dir):
    with TestClient(create_app(tiny_index_settings, tiny_embedder)) as client:
        yield client


def _upload(image: Image.Image, fmt: str = "JPEG") -> dict:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return {"image": (f"photo.{fmt.lower()}", buffer.getvalue(), f"image/{fmt.lower()}")}


@pytest.fixture(scope="module")
def two_seats_upload() -> dict:
    return {"image": ("room.jpg", TWO_SEATS_PHOTO.read_bytes(), "image/jpeg")}


def test_the_detector_is_loaded_once_in_the_lifespan(client):
    detector = client.app.state.detector
    assert isinstance(detector, SeatDetector)
    client.post("/api/classify", files={"image": ("room.jpg", TWO_SEATS_PHOTO.read_bytes(), "image/jpeg")})
    assert client.app.state.detector is detector


def test_search_answers_each_seat_main_seat_first(client, two_seats_upload):
    response = client.post("/api/search", files=two_seats_upload, data={"top_k": "2"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["detected"] is True and len(body["objects"]) == 2
    main, other = body["objects"]
    assert box_iou(main["box"], ARMCHAIR) > 0.7 and box_iou(other["box"], OFFICE_CHAIR) > 0.7
    assert body["results"] == main["results"] and body["categories"] == main["categories"]
    for seat in body["objects"]:
        assert seat["label"] == "chair" and 0.25 <= seat["score"] <= 1 and len(seat["results"]) == 2
        assert sum(c["probability"] for c in seat["categories"]) == pytest.approx(1.0, abs=1e-3)
        assert 0 <= seat["axis_pose"]["polar_deg"] <= 180
    assert main["results"][0]["pose"] != other["results"][0]["pose"]


def test_boxes_are_in_the_uploaded_image_pixels_after_exif_rotation(client):
    with Image.open(TWO_SEATS_PHOTO) as photo:
        big = photo.convert("RGB").resize((960, 960))
    body = client.post("/api/search", files=_upload(big)).json()
    assert box_iou(body["objects"][0]["box"], [2 * v for v in ARMCHAIR]) > 0.7


def test_no_seat_gives_the_whole_image_answer(client):
    blank = Image.new("RGB", (120, 90), (255, 255, 255))
    body = client.post("/api/search", files=_upload(blank, "PNG"), data={"top_k": "2"}).json()
    assert body["detected"] is False and body["objects"] == []
    assert len(body["results"]) == 2 and body["categories"]


def test_classify_gives_each_seat_its_kinds(client, two_seats_upload):
    body = client.post("/api/classify", files=two_seats_upload).json()
    assert body["detected"] is True and len(body["objects"]) == 2
    assert body["categories"] == body["objects"][0]["categories"]
    assert set(body["objects"][0]) == {"box", "label", "score", "categories"}


def test_cli_search_prints_the_objects(tiny_index_settings, detector_dir):
    from tests.app.test_cli import _cli

    found = _cli("search", str(TWO_SEATS_PHOTO), "--top-k", "1", settings=tiny_index_settings)
    assert found.returncode == 0, found.stderr
    body = json.loads(found.stdout)
    assert body["detected"] is True and len(body["objects"]) == 2 and len(body["results"]) == 1
    assert box_iou(body["objects"][0]["box"], ARMCHAIR) > 0.7
