"""Observability: Prometheus /metrics moves with traffic, one JSON log line per request, X-Request-ID."""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from app.requestlog import ACCESS_LOGGER, JsonFormatter


@pytest.fixture(scope="module")
def client(tiny_index_settings, tiny_embedder):
    with TestClient(create_app(tiny_index_settings, tiny_embedder)) as client:
        yield client


@pytest.fixture
def access_lines():
    """The access log's formatted lines, collected while the test runs."""
    lines: list[str] = []
    handler = logging.Handler()
    handler.setFormatter(JsonFormatter())
    handler.emit = lambda record: lines.append(handler.format(record))
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def _photo() -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(3).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _sample(client: TestClient, name: str, **labels: str) -> float:
    """One sample's value from GET /metrics (0 if the series does not exist yet)."""
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_a_search_moves_the_counters(client):
    route = {"method": "POST", "route": "/api/search"}
    before = {"ok": _sample(client, "photo2cad_requests_total", status="200", **route),
              "bad": _sample(client, "photo2cad_requests_total", status="400", **route),
              "embed": _sample(client, "photo2cad_embed_seconds_count"),
              "search": _sample(client, "photo2cad_search_seconds_count"),
              "latency": _sample(client, "photo2cad_request_duration_seconds_count", **route)}
    assert client.post("/api/search", files={"image": ("p.png", _photo())}).status_code == 200
    assert client.post("/api/search", files={"image": ("p.png", b"junk")}).status_code == 400
    assert _sample(client, "photo2cad_requests_total", status="200", **route) == before["ok"] + 1
    assert _sample(client, "photo2cad_requests_total", status="400", **route) == before["bad"] + 1
    assert _sample(client, "photo2cad_embed_seconds_count") == before["embed"] + 1
    assert _sample(client, "photo2cad_search_seconds_count") == before["search"] + 1
    assert _sample(client, "photo2cad_request_duration_seconds_count", **route) == before["latency"] + 2
    assert _sample(client, "photo2cad_embed_seconds_sum") > 0


def test_routes_are_labelled_by_template_not_by_raw_path(client):
    for model_id in ("a", "b", "c"):
        client.get(f"/api/models/{model_id}")
    assert _sample(client, "photo2cad_requests_total", route="/api/models/{model_id:path}", status="404") >= 3
    client.get("/api/nowhere")
    assert _sample(client, "photo2cad_requests_total", route="unmatched", status="404") >= 1
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")


def test_one_json_line_per_request_with_its_id(client, access_lines):
    response = client.get("/api/models/nope", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    (line,) = access_lines
    entry = json.loads(line)
    assert entry["request_id"] == "abc-123" and entry["method"] == "GET"
    assert entry["path"] == "/api/models/nope" and entry["status"] == 404
    assert entry["route"] == "/api/models/{model_id:path}" and entry["duration_ms"] >= 0
    assert entry["level"] == "INFO" and entry["logger"] == ACCESS_LOGGER


@pytest.mark.parametrize("given", [None, "", "x" * 200, "two words", "evil\\nline"])
def test_a_fresh_request_id_replaces_a_missing_or_unsafe_one(client, access_lines, given):
    headers = {} if given is None else {"X-Request-ID": given}
    response = client.get("/api/health", headers=headers)
    request_id = response.headers["x-request-id"]
    assert request_id != given and len(request_id) == 32 and int(request_id, 16) >= 0
    assert json.loads(access_lines[-1])["request_id"] == request_id
    assert client.get("/api/health").headers["x-request-id"] != request_id


class BrokenEmbedder:
    """Looks like the real embedder to the index, fails like a bug at query time."""

    def __init__(self, real) -> None:
        self.info = real.info

    def embed(self, images: np.ndarray) -> np.ndarray:
        raise RuntimeError("embedder exploded")


def test_an_unexpected_failure_is_a_json_500_with_the_request_id(tiny_index_settings, tiny_embedder,
                                                                 access_lines):
    app = create_app(tiny_index_settings, BrokenEmbedder(tiny_embedder))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/api/classify", files={"image": ("p.png", _photo())},
                               headers={"X-Request-ID": "req-500"})
        assert response.status_code == 500 and response.json() == {"detail": "internal server error"}
        assert response.headers["x-request-id"] == "req-500"
        assert _sample(client, "photo2cad_requests_total", route="/api/classify", status="500") == 1
    assert json.loads(access_lines[0])["status"] == 500
