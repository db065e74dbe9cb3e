"""The demo page in real headless Chromium (Debian's) against the real app served by uvicorn on the
tiny index: upload, ranked results, the 3D view at the estimated pose, errors, phone layout."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.main import create_app
from render.cameras import angles_to_camera
from tests.conftest import render_rgb
from tests.servers import serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                "(apt-get install chromium)")


@pytest.fixture(scope="module")
def base_url(tiny_index_settings, tiny_embedder):
    """The real app on 127.0.0.1 at a free port, served by uvicorn in a background thread."""
    with serving(create_app(tiny_index_settings, tiny_embedder)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, base_url):
    """A fresh desktop page on the demo, with uncaught script errors collected in `page.errors`."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(base_url)
    yield page
    context.close()


@pytest.fixture(scope="module")
def chair_photo(tiny_cad_dir) -> Path:
    """A held-out view (off the index's camera grid) of the indexed box chair, as a PNG file."""
    image = render_rgb(tiny_cad_dir / "box_chair.glb", angles_to_camera(57.0, 33.0)[None], 192)[0]
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "query_box_chair.png"
    Image.fromarray(image).save(path)
    return path


def _search(page, photo: Path, polar: str = "", azimuth: str = "") -> None:
    page.fill("#polar", polar)
    page.fill("#azimuth", azimuth)
    page.set_input_files("#image-input", str(photo))
    page.wait_for_selector("#results .result")
    page.wait_for_selector("#spinner", state="hidden")


def _canvas_pixels(page) -> np.ndarray:
    page.wait_for_selector("#viewer[data-state='ready']", timeout=30_000)
    png = page.locator("#viewer canvas").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _foreground(pixels: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels that differ from the most common (background) colour."""
    colours, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
    return np.abs(pixels - colours[counts.argmax()]).sum(axis=-1) > 30


def _silhouette_iou(canvas: np.ndarray, photo: Path) -> float:
    """Overlap of the object in the 3D view and in the photo (same fov and framing: both square)."""
    query = np.asarray(Image.open(photo).convert("RGB"), dtype=np.int16)
    size = query.shape[1], query.shape[0]
    view = np.asarray(Image.fromarray(canvas.astype(np.uint8)).resize(size, Image.BILINEAR), dtype=np.int16)
    a, b = _foreground(view), _foreground(query)
    return float((a & b).sum() / (a | b).sum())


def test_header_shows_the_loaded_embedder_and_index(page):
    health = page.locator("#health")
    health.get_by_text("efficientnet_lite0").wait_for()
    assert "3 models" in health.inner_text() and "views" in health.inner_text()


def test_upload_ranks_the_chair_first_and_shows_its_pose(page, chair_photo):
    _search(page, chair_photo, polar="57", azimuth="33")
    first = page.locator("#results .result").first
    assert first.get_attribute("data-model-id") == "test#box_chair"
    text = first.inner_text()
    assert first.locator(".seat-kind").text_content() == "chair"
    for expected in ("Box Chair", "Score", "Polar", "Azimuth", "Expected error", "Angular error",
                     "CC0", "photo2cad tests", "%", "°"):
        assert expected in text, expected
    assert page.locator("#results .result").count() == 3  # the tiny index has three models
    assert page.locator("#query-preview").evaluate("img => img.naturalWidth") == 192
    assert first.locator(".result-view").evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.locator("#categories .bar-label").first.inner_text().lower() == "chair"
    assert page.locator("#viewer-title").inner_text().startswith("Box Chair")
    page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)
    assert page.errors == []


def test_3d_view_renders_the_model_and_resets_to_the_estimated_pose(page, chair_photo):
    _search(page, chair_photo)
    estimated = _canvas_pixels(page)
    assert 0.02 < _foreground(estimated).mean() < 0.9, "the 3D canvas shows no model"
    # The photo was taken 3 degrees from the estimated pose: the model should cover the same pixels.
    assert _silhouette_iou(estimated, chair_photo) > 0.8
    box = page.locator("#viewer canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.4, steps=8)
    page.mouse.up()
    turned = _canvas_pixels(page)
    assert np.abs(turned - estimated).mean() > 1.0, "dragging did not turn the view"
    assert _silhouette_iou(turned, chair_photo) < 0.6
    page.click("#reset-pose")
    assert np.abs(_canvas_pixels(page) - estimated).mean() < 0.5
    assert page.errors == []


def test_choosing_another_result_shows_its_model(page, chair_photo):
    _search(page, chair_photo)
    first_view = _canvas_pixels(page)
    second = page.locator("#results .result").nth(1)
    second.locator(".show-3d").click()
    assert second.locator(".show-3d").get_attribute("aria-pressed") == "true"
    page.wait_for_function("() => document.querySelector('#viewer-title').textContent.startsWith("
                           f"{json.dumps(second.locator('.result-name').inner_text().split(' ', 1)[1])})")
    assert np.abs(_canvas_pixels(page) - first_view).mean() > 1.0


def test_top_k_selector_limits_the_results(page, chair_photo):
    _search(page, chair_photo)
    page.select_option("#top-k", "1")
    page.wait_for_function("() => document.querySelectorAll('#results .result').length === 1")
    page.wait_for_selector("#spinner", state="hidden")
    assert page.locator("#results .result").first.get_attribute("data-model-id") == "test#box_chair"


def test_refine_checkbox_refines_the_best_pose(page, chair_photo):
    _search(page, chair_photo)
    first = page.locator("#results .result").first
    assert "refined by render-and-compare" not in first.inner_text()
    page.check("#refine")
    page.wait_for_function("() => document.querySelector('#results .result')?.innerText"
                           ".includes('refined by render-and-compare')")
    page.wait_for_selector("#spinner", state="hidden")
    assert "refined by render-and-compare" not in page.locator("#results .result").nth(1).inner_text()
    assert page.errors == []


DATA_TRANSFER = """async ([b64, name]) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], name, { type: 'image/png' }));
    return transfer;
}"""


@pytest.mark.parametrize("gesture", ["drop", "paste"])
def test_drop_and_paste_upload_the_photo(page, chair_photo, gesture):
    b64 = base64.b64encode(chair_photo.read_bytes()).decode()
    transfer = page.evaluate_handle(DATA_TRANSFER, [b64, f"{gesture}.png"])
    if gesture == "drop":
        page.locator("#dropzone").dispatch_event("drop", {"dataTransfer": transfer})
    else:
        page.evaluate("(data) => document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data }))",
                      transfer)
    page.wait_for_selector("#results .result")
    assert page.locator("#file-name").inner_text().startswith(f"{gesture}.png")
    assert page.locator("#results .result").first.get_attribute("data-model-id") == "test#box_chair"


def test_results_without_a_model_file_show_no_viewer(page, base_url, chair_photo):
    # The real API's answer for the photo, minus the GLB links (intercepted requests lose file bodies,
    # so the answer is fetched here rather than with route.fetch()).
    with _post_image(base_url, chair_photo.read_bytes(), "image/png") as response:
        answer = json.loads(response.read())
    for result in answer["results"] + [r for seat in answer["objects"] for r in seat["results"]]:
        result["model_url"] = None
    page.route("**/api/search", lambda route: route.fulfill(json=answer))
    _search(page, chair_photo)
    assert page.locator("#viewer-section").is_hidden()
    assert page.locator("#results .show-3d").count() == 0
    assert page.locator("#results .no-3d").count() == 3


def _post_image(base_url: str, body: bytes, content_type: str):
    """POST /api/search with `body` as the image file, straight to the API (not through the page)."""
    boundary = "photo2cadboundary"
    data = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"upload\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode() + body + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(base_url + "api/search", data=data, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return urllib.request.urlopen(request, timeout=60)


def _api_error(base_url: str, body: bytes, content_type: str) -> str:
    """The detail the API itself gives for an upload, to check the page shows that very message."""
    with pytest.raises(urllib.error.HTTPError) as error:
        _post_image(base_url, body, content_type)
    assert error.value.code == 400
    return json.loads(error.value.read())["detail"]


def test_text_file_shows_the_api_error(page, base_url):
    text = b"this is not a photo of a chair\n"
    page.set_input_files("#image-input", {"name": "notes.txt", "mimeType": "text/plain", "buffer": text})
    error = page.locator("#error")
    error.wait_for(state="visible")
    page.wait_for_selector("#spinner", state="hidden")
    detail = _api_error(base_url, text, "text/plain")
    assert error.inner_text() == f"Search failed: {detail}"
    assert page.locator("#results .result").count() == 0
    assert page.locator("#viewer-section").is_hidden()


def test_half_a_true_pose_shows_the_validation_message(page, chair_photo):
    page.fill("#polar", "40")
    page.set_input_files("#image-input", str(chair_photo))
    page.locator("#error").wait_for(state="visible")
    assert "give both polar and azimuth" in page.locator("#error").inner_text()


def test_phone_layout_fits_the_screen(browser, base_url, chair_photo):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(base_url)
    _search(page, chair_photo)
    _canvas_pixels(page)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    viewer = page.locator("#viewer").bounding_box()
    page.screenshot(path=str(ARTIFACTS / "demo-phone.png"), full_page=True)
    context.close()
    assert overflow <= 0, f"page is {overflow}px wider than the phone screen"
    assert viewer["width"] > 0.8 * PHONE["width"] - 40 and viewer["x"] >= 0
