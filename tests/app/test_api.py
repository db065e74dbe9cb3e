"""The HTTP API through TestClient on a real tiny index: search, classify, catalogue, bad input."""

from __future__ import annotations

import io
import socket

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from render.cameras import angles_to_camera, angular_error_deg
from tests.conftest import render_rgb
from tests.servers import read_answer, serving


@pytest.fixture(scope="module")
def client(tiny_index_settings, tiny_embedder):
    with TestClient(create_app(tiny_index_settings, tiny_embedder)) as client:
        yield client


@pytest.fixture(scope="module")
def chair_photo(tiny_cad_dir) -> bytes:
    """A held-out view (not on the index's camera grid) of the box chair, as PNG bytes."""
    image = render_rgb(tiny_cad_dir / "box_chair.glb", angles_to_camera(57.0, 33.0)[None], 64)[0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_health_reports_embedder_and_index(client):
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["embedder"]["name"] == "efficientnet_lite0"
    assert body["index"]["models"] == 3 and body["index"]["views"] > 3 * 50
    assert "ImageNet" in body["embedder"]["weights"] or "imagenet" in body["embedder"]["weights"].lower()


def test_search_finds_the_chair_and_its_pose(client, chair_photo):
    response = client.post("/api/search", files={"image": ("chair.png", chair_photo, "image/png")},
                           data={"top_k": "3", "polar": "57", "azimuth": "33"})
    assert response.status_code == 200, response.text
    body = response.json()
    best = body["results"][0]
    assert best["model_id"] == "test#box_chair" and len(body["results"]) == 3
    assert body["categories"][0]["label"] == "chair"
    assert sum(c["probability"] for c in body["categories"]) == pytest.approx(1.0, abs=1e-3)
    assert 0 <= best["score"] <= 1 and best["score"] >= body["results"][1]["score"]
    camera = np.array(best["pose"]["camera"])
    assert best["angular_error_deg"] == pytest.approx(
        float(angular_error_deg(angles_to_camera(57, 33), camera)), abs=0.05)
    assert best["angular_error_deg"] < 30
    assert best["licence"] == "CC0" and best["creator"] == "photo2cad tests"
    view = client.get(best["view_url"])
    assert view.status_code == 200 and view.headers["content-type"] == "image/jpeg"
    assert client.get(best["model_url"]).content[:4] == b"glTF"
    assert client.get(best["source_url"]).status_code == 200


def test_search_without_true_pose_and_classify(client, chair_photo):
    body = client.post("/api/search", files={"image": ("c.png", chair_photo)}).json()
    assert body["results"][0]["angular_error_deg"] is None and len(body["results"]) == 3
    classes = client.post("/api/classify", files={"image": ("c.png", chair_photo)}).json()
    assert classes["categories"][0]["label"] == "chair"
    assert {c["label"] for c in classes["categories"]} == {"chair", "stool", "sofa"}


def test_catalogue_endpoints(client):
    listing = client.get("/api/models").json()
    assert listing["count"] == 3
    assert {m["model_id"] for m in listing["models"]} == {"test#box_chair", "test#stool", "test#sofa"}
    one = client.get("/api/models/test%23stool")
    assert one.status_code == 200 and one.json()["seat_kind"] == "stool" and one.json()["views"] > 50
    missing = client.get("/api/models/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    assert client.get("/api/views/999999.jpg").status_code == 404
    assert client.get("/").status_code == 200


def _truncated_png() -> bytes:
    return _png(np.zeros((64, 64, 3), np.uint8))[:60]


def _bomb_png() -> bytes:
    """A valid PNG header claiming 100000 x 100000 pixels (a decompression bomb)."""
    data = bytearray(_png(np.zeros((8, 8, 3), np.uint8)))
    import struct
    import zlib

    data[16:24] = struct.pack(">II", 100_000, 100_000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize("payload, fragment", [
    (b"", "empty"),
    (b"this is not an image at all", "not a recognised image"),
    ("truncated", "cannot"),
    ("bomb", "too large"),
    ("tiny", "too small"),
])
def test_bad_images_get_a_clear_400(client, payload, fragment):
    payload = {"truncated": _truncated_png, "bomb": _bomb_png,
               "tiny": lambda: _png(np.zeros((4, 4, 3), np.uint8))}.get(payload, lambda: payload)()
    response = client.post("/api/search", files={"image": ("x.png", payload, "image/png")})
    assert response.status_code == 400, response.text
    assert fragment in response.json()["detail"]


@pytest.mark.parametrize("data, files", [
    ({"top_k": "0"}, True), ({"top_k": "many"}, True), ({"polar": "45"}, True), ({"polar": "500",
     "azimuth": "1"}, True), ({}, False),
])
def test_bad_parameters_get_422(client, chair_photo, data, files):
    response = client.post("/api/search", data=data,
                           files={"image": ("c.png", chair_photo)} if files else None)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_oversized_upload_gets_413(tiny_index_settings, tiny_embedder, chair_photo):
    assert len(chair_photo) > 300
    settings = tiny_index_settings.model_copy(update={"max_upload_bytes": 300})
    with TestClient(create_app(settings, tiny_embedder)) as small:
        response = small.post("/api/search", files={"image": ("c.png", chair_photo)})
    assert response.status_code == 413 and "larger than 300" in response.json()["detail"]


def test_a_chunked_upload_gets_413_while_it_streams_in(tiny_index_settings, tiny_embedder):
    """Real HTTP, Transfer-Encoding: chunked (no Content-Length): the answer comes after 400 bytes of a
    body the client has not finished sending."""
    settings = tiny_index_settings.model_copy(update={"max_upload_bytes": 300})
    with serving(create_app(settings, tiny_embedder)) as url:
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(b"POST /api/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
                         + b"%x\r\n" % 400 + b"-" * 400 + b"\r\n")
            answer = read_answer(sock)
    assert answer.startswith("HTTP/1.1 413") and "larger than 300" in answer, answer


@pytest.mark.parametrize("orientation, turn", [(6, 1), (8, -1)])
def test_exif_orientation_is_applied(client, chair_photo, orientation, turn):
    """The chair stored sideways with EXIF saying how to turn it upright: the answer is the upright
    chair's (model and pose); read sideways, the pose would be far off or another model would win."""
    upright = np.asarray(Image.open(io.BytesIO(chair_photo)).convert("RGB"))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, turn))).save(buffer, format="JPEG", exif=exif,
                                                                       quality=95)
    response = client.post("/api/search", files={"image": ("c.jpg", buffer.getvalue())},
                           data={"polar": "57", "azimuth": "33"})
    best = response.json()["results"][0]
    assert best["model_id"] == "test#box_chair" and best["angular_error_deg"] < 30


def test_model_ids_with_slashes_are_reachable(tiny_index_settings, tiny_embedder, tiny_cad_dir, tmp_path):
    import shutil

    from app import bootstrap

    shutil.copytree(tiny_index_settings.resolved_index_dir, tmp_path / "idx")
    settings = tiny_index_settings.model_copy(update={"index_dir": tmp_path / "idx"})
    report = bootstrap.add_files(settings, [tiny_cad_dir / "stool.ply"], model_id="shop/stools/red",
                                 seat_kind="stool", embedder=tiny_embedder)
    assert report.added == ["shop/stools/red"]
    with TestClient(create_app(settings, tiny_embedder)) as client:
        listed = {m["model_id"]: m for m in client.get("/api/models").json()["models"]}
        info = client.get("/api/models/shop%2Fstools%2Fred")
        assert info.status_code == 200 and info.json()["model_id"] == "shop/stools/red"
        assert client.get(listed["shop/stools/red"]["model_url"]).content[:4] == b"glTF"
        assert client.get("/api/models/shop%2Fnope/model.glb").status_code == 404


def test_refine_improves_the_best_pose_beyond_the_grid(client, chair_photo):
    form = {"top_k": "2", "polar": "57", "azimuth": "33"}
    files = {"image": ("chair.png", chair_photo, "image/png")}
    plain = client.post("/api/search", files=files, data=form).json()["results"]
    refined = client.post("/api/search", files=files, data={**form, "refine": "true"}).json()["results"]
    assert not plain[0]["pose_refined"] and refined[0]["pose_refined"] and not refined[1]["pose_refined"]
    assert refined[0]["model_id"] == plain[0]["model_id"] == "test#box_chair"
    assert refined[0]["pose"] != plain[0]["pose"]  # it really moved off the grid estimate
    assert refined[0]["angular_error_deg"] <= plain[0]["angular_error_deg"] + 0.5
    assert refined[0]["refine_status"].startswith("moved") and plain[0]["refine_status"] is None
    # no calibration of refined poses here: the error bar stays the search's, not a made-up cap
    assert refined[0]["expected_error_deg"] == plain[0]["expected_error_deg"]
    assert refined[1] == plain[1]


def test_a_bad_refine_value_is_422(client, chair_photo):
    response = client.post("/api/search", files={"image": ("chair.png", chair_photo, "image/png")},
                           data={"refine": "maybe"})
    assert response.status_code == 422 and "refine" in response.text
