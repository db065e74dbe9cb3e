"""The demo page's seat boxes in real headless Chromium against the real app (real detector, tiny index):
one box per seat where the seat is, the main seat selected first, each box showing its own models and 3D
view, and "no seat found" said plainly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TWO_SEATS_PHOTO
from tests.e2e.test_demo_page import ARTIFACTS, CHROMIUM, _canvas_pixels
from tests.models.test_detector import ARMCHAIR, OFFICE_CHAIR

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                "(apt-get install chromium)")


def _upload(page, photo) -> dict:
    """Give the page a photo; returns the /api/search answer it got, once the page has drawn it."""
    with page.expect_response(lambda r: r.url.endswith("/api/search")) as response:
        page.set_input_files("#image-input", str(photo))
    page.wait_for_selector("#results .result")
    page.wait_for_selector("#spinner", state="hidden")
    return response.value.json()


def _box_in_photo_px(page, index: int) -> np.ndarray:
    """Where seat box `index` is drawn, in pixels of the 480 px photo."""
    image = page.locator("#seat-image").bounding_box()
    box = page.locator(".seat-box").nth(index).bounding_box()
    scale = 480 / image["width"]
    x0, y0 = (box["x"] - image["x"]) * scale, (box["y"] - image["y"]) * scale
    return np.array([x0, y0, x0 + box["width"] * scale, y0 + box["height"] * scale])


def test_boxes_are_drawn_on_the_seats_and_the_main_seat_is_selected(page):
    answer = _upload(page, TWO_SEATS_PHOTO)
    boxes = page.locator(".seat-box")
    boxes.nth(1).wait_for()
    assert boxes.count() == 2 == len(answer["objects"])
    assert np.abs(_box_in_photo_px(page, 0) - ARMCHAIR).max() < 25
    assert np.abs(_box_in_photo_px(page, 1) - OFFICE_CHAIR).max() < 25
    assert boxes.nth(0).get_attribute("aria-pressed") == "true"
    assert boxes.nth(1).get_attribute("aria-pressed") == "false"
    assert "2 seats found" in page.locator("#seat-status").inner_text()
    names = page.locator("#results .result").evaluate_all("items => items.map(i => i.dataset.modelId)")
    assert names == [r["model_id"] for r in answer["objects"][0]["results"]]
    page.screenshot(path=str(ARTIFACTS / "demo_seats.png"), full_page=True)
    assert page.errors == []


def test_clicking_a_box_shows_that_seats_models_and_3d_view(page):
    answer = _upload(page, TWO_SEATS_PHOTO)
    _canvas_pixels(page)  # the main seat's best model is in the viewer
    page.locator(".seat-box").nth(1).click()
    assert page.locator(".seat-box").nth(1).get_attribute("aria-pressed") == "true"
    assert page.locator(".seat-box").nth(0).get_attribute("aria-pressed") == "false"
    second = answer["objects"][1]
    page.wait_for_function("(ids) => [...document.querySelectorAll('#results .result')]"
                           ".map(i => i.dataset.modelId).join() === ids.join()",
                           arg=[r["model_id"] for r in second["results"]])
    best = second["results"][0]["name"]
    page.wait_for_function("(name) => document.querySelector('#viewer-title').textContent.startsWith(name)",
                           arg=best)
    assert _canvas_pixels(page).std() > 1  # a model is drawn
    kinds = page.locator("#categories .bar-label").all_inner_texts()
    assert [k.lower() for k in kinds] == [c["label"] for c in second["categories"]]
    assert page.errors == []


def test_no_seat_found_is_said_plainly(page):
    ARTIFACTS.mkdir(exist_ok=True)
    blank = ARTIFACTS / "blank_wall.png"
    Image.new("RGB", (160, 120), (235, 232, 225)).save(blank)
    answer = _upload(page, blank)
    assert answer["detected"] is False
    assert "No seat found" in page.locator("#seat-status").inner_text()
    assert page.locator(".seat-box").count() == 0
    assert page.locator("#results .result").count() == len(answer["results"]) > 0
    assert page.errors == []


def test_a_new_photo_clears_the_old_boxes(page):
    _upload(page, TWO_SEATS_PHOTO)
    page.locator(".seat-box").nth(1).wait_for()
    buffer = io.BytesIO()
    Image.new("RGB", (100, 100), (255, 255, 255)).save(buffer, format="PNG")
    blank = ARTIFACTS / "blank.png"
    blank.write_bytes(buffer.getvalue())
    _upload(page, blank)
    assert page.locator(".seat-box").count() == 0
