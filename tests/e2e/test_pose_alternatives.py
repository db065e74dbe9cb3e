"""The demo page shows the pose distribution: alternatives that can be picked for the 3D view, and a
symmetric model's ambiguous azimuth (real app, real Chromium, the tiny index)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from render.cameras import angles_to_camera
from tests.conftest import render_rgb
from tests.e2e.test_demo_page import (
    ARTIFACTS,
    _canvas_pixels,
    _search,
    _silhouette_iou,
    base_url,
    browser,
    chair_photo,
    page,
    pytestmark,
)

__all__ = ["base_url", "browser", "chair_photo", "page", "pytestmark"]  # fixtures shared with the demo test
BEHIND = (57.0, 213.0)  # the chair photo's camera turned half a circle


ADD_BEHIND_ALTERNATIVE = """([polar, azimuth, camera]) => {
    // The real answer, with a 'seen from behind' alternative added to the first result: which modes a
    // real answer has depends on the embedder, and the page must show and use whichever it gets.
    const original = window.fetch;
    window.fetch = async (...args) => {
        const response = await original(...args);
        if (!String(args[0]).includes('api/search') || !response.ok) return response;
        const answer = await response.json();
        // the top-level answer and, when a seat was found, the main seat's (the one the page shows)
        for (const results of [answer.results, ...(answer.objects ?? []).slice(0, 1).map((o) => o.results)]) {
            const pose = results[0].pose;
            pose.probability = 0.7;
            pose.alternatives = [{ polar_deg: polar, azimuth_deg: azimuth, camera, probability: 0.3, side: 'back' }];
        }
        return new Response(JSON.stringify(answer), { status: 200, headers: { 'Content-Type': 'application/json' } });
    };
}"""


def test_an_alternative_pose_is_listed_and_shown_in_3d(page, chair_photo, tiny_cad_dir):
    page.evaluate(ADD_BEHIND_ALTERNATIVE, [*BEHIND, angles_to_camera(*BEHIND).round(5).tolist()])
    _search(page, chair_photo)
    first = page.locator("#results .result").first
    choices = first.locator(".pose-choice")
    assert choices.count() == 2
    assert choices.nth(0).inner_text() == "most likely: 70 %"
    assert choices.nth(1).inner_text() == "seen from behind: 30 %"
    headline = _canvas_pixels(page)
    assert _silhouette_iou(headline, chair_photo) > 0.8
    choices.nth(1).click()
    page.wait_for_function("() => document.querySelector('#viewer-title').textContent.includes('alternative')")
    assert choices.nth(1).get_attribute("aria-pressed") == "true"
    assert choices.nth(0).get_attribute("aria-pressed") == "false"
    behind = _canvas_pixels(page)
    photo_behind = ARTIFACTS / "query_box_chair_behind.png"
    Image.fromarray(render_rgb(tiny_cad_dir / "box_chair.glb", angles_to_camera(*BEHIND)[None], 192)[0]).save(photo_behind)
    assert _silhouette_iou(behind, photo_behind) > 0.8 and np.abs(behind - headline).mean() > 1.0
    choices.nth(0).click()
    page.wait_for_function("() => document.querySelector('#viewer-title').textContent.endsWith('estimated pose')")
    assert np.abs(_canvas_pixels(page) - headline).mean() < 0.5
    assert page.errors == []


@pytest.fixture
def stool_photo(tiny_cad_dir):
    image = render_rgb(tiny_cad_dir / "stool.ply", angles_to_camera(60.0, 20.0)[None], 192)[0]
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "query_stool.png"
    Image.fromarray(image).save(path)
    return path


def test_a_symmetric_model_says_its_azimuth_is_ambiguous(page, stool_photo):
    _search(page, stool_photo)
    cards = page.locator("#results .result")
    stool = page.locator("#results .result[data-model-id='test#stool']")
    assert stool.locator(".symmetry-note").inner_text().startswith("Symmetric (C3)")
    assert "azimuth is ambiguous" in stool.inner_text()
    chair = page.locator("#results .result[data-model-id='test#box_chair']")
    assert chair.locator(".symmetry-note").count() == 0
    assert cards.count() == 3 and page.errors == []
