"""The HTTP contract: Schemathesis fuzzes every operation of the OpenAPI schema (no 5xx, responses match
the schema), plus the edges it cannot reach: JSON 404/405, odd path ids, CORS."""

from __future__ import annotations

import io

import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from PIL import Image
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.main import create_app


@pytest.fixture(scope="module")
def app(tiny_index_settings, tiny_embedder):
    return create_app(tiny_index_settings, tiny_embedder)


@pytest.fixture(scope="module")
def api_schema(app):
    """The app's own /openapi.json; Schemathesis runs the lifespan once, we stop it at the end."""
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as client:
        yield client


schema = schemathesis.pytest.from_fixture("api_schema")


def _photo() -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


PHOTO = _photo()


@schema.parametrize()
@settings(max_examples=30, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_every_operation_honours_its_schema(case):
    # A schema cannot say "a decodable photo": valid cases get a real one, so that the generated numbers
    # go all the way through the search; and a valid-looking upload may still fairly get a 400 or 422.
    uploads = isinstance(case.body, dict) and "image" in case.body
    if uploads and case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE:
        case.body["image"] = PHOTO
    case.call_and_validate(excluded_checks=[positive_data_acceptance] if uploads else [])


@pytest.mark.parametrize("path, detail", [
    ("/api/nope", "Not Found"), ("/api", "Not Found"), ("/api/views/x/y.jpg", "Not Found"),
    # ids may contain '/', so this is the model "test#stool/nope", which does not exist
    ("/api/models/test%23stool/nope", "no model with id 'test#stool/nope'")])
def test_unknown_api_paths_get_a_json_404(client, path, detail):
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": detail}


@pytest.mark.parametrize("method, path, allowed", [
    ("get", "/api/search", "POST"), ("delete", "/api/models", "GET"), ("put", "/api/health", "GET")])
def test_wrong_method_gets_a_json_405(client, method, path, allowed):
    response = client.request(method.upper(), path)
    assert response.status_code == 405 and response.json() == {"detail": "Method Not Allowed"}
    assert response.headers["allow"] == allowed


@pytest.mark.parametrize("path, status", [
    ("/api/views/99999999999999999999999.jpg", 422),  # beyond int64
    ("/api/views/-1.jpg", 422),
    ("/api/views/9223372036854775807.jpg", 404),
    ("/api/views/1.5.jpg", 422),
    ("/api/models/%00", 404),
    ("/api/models/a%2Fb", 404),
    ("/api/models/..%2F..%2Fetc/source", 404),
])
def test_odd_ids_get_json_4xx(client, path, status):
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_search_rejects_non_finite_angles_and_half_poses(client):
    image = {"image": ("x.png", b"not even looked at")}
    for data in ({"polar": "10", "azimuth": "nan"}, {"polar": "inf", "azimuth": "1"}, {"polar": "45"}):
        response = client.post("/api/search", files=image, data=data)
        assert response.status_code == 422, (data, response.text)
        assert isinstance(response.json()["detail"], list)


def test_the_demo_page_is_still_served_outside_api(client):
    assert client.get("/").status_code == 200
    assert client.get("/no-such-file.txt").status_code == 404


def test_openapi_documents_files_and_form_examples(client):
    spec = client.get("/openapi.json").json()
    view = spec["paths"]["/api/views/{view_id}.jpg"]["get"]["responses"]
    assert list(view["200"]["content"]) == ["image/jpeg"]
    form = spec["paths"]["/api/search"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    body = spec["components"]["schemas"][form["$ref"].rsplit("/", 1)[1]]["properties"]
    assert body["top_k"]["examples"] and body["polar"]["examples"] and body["azimuth"]["examples"]


@pytest.mark.parametrize("origin, allowed", [("http://demo.example", True), ("http://evil.example", False)])
def test_cors_allows_only_configured_origins(tiny_index_settings, tiny_embedder, origin, allowed):
    settings = tiny_index_settings.model_copy(update={"cors_origins": ["http://demo.example"]})
    with TestClient(create_app(settings, tiny_embedder)) as client:
        simple = client.get("/api/models", headers={"Origin": origin})
        preflight = client.options("/api/search", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})
    assert simple.status_code == 200
    assert (simple.headers.get("access-control-allow-origin") == origin) is allowed
    assert (preflight.status_code == 200) is allowed
    if allowed:
        assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()


def test_no_cors_headers_by_default(client):
    response = client.get("/api/models", headers={"Origin": "http://demo.example"})
    assert "access-control-allow-origin" not in response.headers
