"""Index changes over HTTP: API key, upload -> searchable without a restart, delete, reload, and
searches that keep succeeding while the index is swapped."""

from __future__ import annotations

import io
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from render.cameras import angles_to_camera
from tests.conftest import held_index_lock, render_rgb
from tests.servers import read_answer, serving

KEY = {"X-API-Key": "s3cret"}


@pytest.fixture
def writable(tiny_index_settings, tiny_embedder, tmp_path):
    """A client on a private copy of the tiny index, with the API key set."""
    shutil.copytree(tiny_index_settings.resolved_index_dir, tmp_path / "idx")
    settings = tiny_index_settings.model_copy(update={"index_dir": tmp_path / "idx", "api_key": "s3cret"})
    with TestClient(create_app(settings, tiny_embedder)) as client:
        yield client


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_write_endpoints_are_disabled_without_a_configured_key(tiny_index_settings, tiny_embedder):
    with TestClient(create_app(tiny_index_settings, tiny_embedder)) as client:
        response = client.post("/api/admin/reload", headers=KEY)
    assert response.status_code == 403 and "PHOTO2CAD_API_KEY" in response.json()["detail"]


def test_wrong_or_missing_key_is_401(writable):
    assert writable.post("/api/admin/reload").status_code == 401
    assert writable.delete("/api/admin/models/test%23sofa", headers={"X-API-Key": "nope"}).status_code == 401
    assert writable.get("/api/models/test%23sofa").status_code == 200  # reads need no key


def test_upload_is_searchable_at_once_and_delete_removes_it(writable, tiny_cad_dir):
    glb = (tiny_cad_dir / "box_chair.glb").read_bytes()
    added = writable.post("/api/admin/models", headers=KEY, files={"file": ("twin_chair.glb", glb)},
                          data={"seat_kind": "chair", "licence": "CC0"})
    assert added.status_code == 201, added.text
    assert added.json()["model_id"] == "twin_chair" and added.json()["views"] > 50
    photo = _png(render_rgb(tiny_cad_dir / "box_chair.glb", angles_to_camera(57.0, 33.0)[None], 64)[0])
    found = writable.post("/api/search", files={"image": ("c.png", photo)}, data={"top_k": "2"}).json()
    assert {r["model_id"] for r in found["results"]} == {"test#box_chair", "twin_chair"}
    assert writable.delete("/api/admin/models/twin_chair", headers=KEY).status_code == 204
    assert writable.get("/api/models/twin_chair").status_code == 404
    assert writable.delete("/api/admin/models/twin_chair", headers=KEY).status_code == 404
    assert writable.get("/api/health").json()["index"]["models"] == 3


def test_uploads_keep_one_source_copy_per_model(writable, tiny_cad_dir):
    uploads = Path(writable.app.state.services.settings.resolved_index_dir) / "uploads"

    def copies() -> int:
        return len(list(uploads.iterdir())) if uploads.exists() else 0

    before = copies()
    glb = (tiny_cad_dir / "box_chair.glb").read_bytes()
    def post(body: bytes, kind: str):
        return writable.post("/api/admin/models", headers=KEY, files={"file": ("copy_chair.glb", body)},
                             data={"seat_kind": kind})

    assert post(glb, "chair").status_code == 201 and copies() == before + 1
    assert post(glb, "armchair").status_code == 201 and copies() == before + 1  # unchanged: relabelled
    assert writable.get("/api/models/copy_chair").json()["seat_kind"] == "armchair"
    sofa = (tiny_cad_dir / "sofa.glb").read_bytes()
    assert post(sofa, "sofa").status_code == 201 and copies() == before + 1  # replaced: old copy gone
    source = writable.get("/api/models/copy_chair/source")
    assert source.status_code == 200 and source.content == sofa
    assert writable.delete("/api/admin/models/copy_chair", headers=KEY).status_code == 204
    assert copies() == before


def test_a_bad_upload_is_400_and_changes_nothing(writable):
    response = writable.post("/api/admin/models", headers=KEY, files={"file": ("broken.stl", b"")})
    assert response.status_code == 400 and "broken" in response.json()["detail"]
    assert writable.get("/api/models").json()["count"] == 3


def test_searches_keep_succeeding_during_reloads(writable, tiny_cad_dir):
    photo = _png(render_rgb(tiny_cad_dir / "stool.ply", angles_to_camera(70.0, 100.0)[None], 64)[0])
    statuses: list[int] = []

    def search_many() -> None:
        for _ in range(12):
            statuses.append(writable.post("/api/search", files={"image": ("s.png", photo)}).status_code)

    threads = [threading.Thread(target=search_many) for _ in range(3)]
    for thread in threads:
        thread.start()
    reloads = [writable.post("/api/admin/reload", headers=KEY).json() for _ in range(5)]
    for thread in threads:
        thread.join()
    assert statuses == [200] * 36
    assert all(r == {"models": 3, "views": reloads[0]["views"]} for r in reloads)


def test_writes_are_409_while_a_cli_run_holds_the_index_lock(writable, tiny_cad_dir):
    index_dir = writable.app.state.services.settings.resolved_index_dir
    glb = (tiny_cad_dir / "box_chair.glb").read_bytes()
    with held_index_lock(index_dir) as holder:
        deleted = writable.delete("/api/admin/models/test%23sofa", headers=KEY)
        assert deleted.status_code == 409, deleted.text
        assert f"being written by another process (pid {holder.pid})" in deleted.json()["detail"]
        added = writable.post("/api/admin/models", headers=KEY, files={"file": ("twin.glb", glb)})
        assert added.status_code == 409 and "another process" in added.json()["detail"]
        assert not list((index_dir / "uploads").iterdir())  # the refused upload is not left behind
        assert writable.get("/api/models").json()["count"] == 3
    assert writable.delete("/api/admin/models/test%23sofa", headers=KEY).status_code == 204  # holder killed
    assert writable.get("/api/models").json()["count"] == 2


@pytest.mark.parametrize("through", ["relative", "symlink"])
def test_an_upload_keeps_its_source_when_the_index_path_is_relative_or_a_symlink(
        tiny_index_settings, tiny_embedder, tiny_cad_dir, tmp_path, monkeypatch, through):
    shutil.copytree(tiny_index_settings.resolved_index_dir, tmp_path / "idx")
    monkeypatch.chdir(tmp_path)
    if through == "symlink":
        (tmp_path / "link").symlink_to(tmp_path / "idx")
    index_dir = Path("idx") if through == "relative" else tmp_path / "link"
    settings = tiny_index_settings.model_copy(update={"index_dir": index_dir, "api_key": "s3cret"})
    glb = (tiny_cad_dir / "box_chair.glb").read_bytes()
    with TestClient(create_app(settings, tiny_embedder)) as client:
        def post(body: bytes):
            return client.post("/api/admin/models", headers=KEY, files={"file": ("own.glb", body)})

        assert post(glb).status_code == 201
        source = client.get("/api/models/own/source")
        assert source.status_code == 200 and source.content == glb
        sofa = (tiny_cad_dir / "sofa.glb").read_bytes()
        assert post(sofa).status_code == 201  # replaced: the first upload's folder is cleaned
        assert client.get("/api/models/own/source").content == sofa
        assert len(list((tmp_path / "idx" / "uploads").iterdir())) == 1
        assert client.delete("/api/admin/models/own", headers=KEY).status_code == 204
        assert not list((tmp_path / "idx" / "uploads").iterdir())


def test_a_non_ascii_key_is_401(writable):
    response = writable.post("/api/admin/reload", headers={"X-API-Key": "sécret".encode()})
    assert response.status_code == 401, response.text


def test_a_wrong_key_is_refused_before_the_upload_is_read(writable):
    """Real HTTP: the server answers 401 after the headers, while the client has sent one byte of a
    10 MB body; before that fix it read the whole body first and this read timed out."""
    with serving(writable.app) as url:
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(b"POST /api/admin/models HTTP/1.1\r\nHost: x\r\nX-API-Key: wrong\r\n"
                         b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000\r\n\r\n-")
            answer = read_answer(sock)
    assert answer.startswith("HTTP/1.1 401"), answer
