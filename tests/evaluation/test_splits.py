"""Test-set construction: seeded, off the view grid, disjoint held-out parts, saved and reloaded."""

import numpy as np
import pytest

from evaluation.splits import (
    EvaluationSplit,
    Query,
    SplitError,
    choose_heldout_models,
    compose,
    make_split,
    offgrid_cameras,
    photo_like,
    render_queries,
    split_panoramas,
)
from index.store import ModelRecord
from render.cameras import angular_error_deg, camera_to_angles, sphere_cameras

GRID = sphere_cameras(2, "icosphere", (20.0, 90.0))
MODELS = [f"lib#m{i}" for i in range(10)]
PANORAMAS = [f"p{i}.exr" for i in range(8)]


def test_offgrid_cameras_are_in_range_away_from_the_grid_and_seeded():
    cams = offgrid_cameras(200, GRID, (20.0, 90.0), np.random.default_rng(1), min_distance_deg=3.0)
    polar, _ = camera_to_angles(cams)
    assert cams.shape == (200, 3) and np.allclose(np.linalg.norm(cams, axis=1), 1.0)
    assert polar.min() >= 20.0 - 1e-9 and polar.max() <= 90.0 + 1e-9
    assert angular_error_deg(cams[:, None], GRID[None]).min() >= 3.0
    again = offgrid_cameras(200, GRID, (20.0, 90.0), np.random.default_rng(1), min_distance_deg=3.0)
    np.testing.assert_array_equal(cams, again)


def test_offgrid_cameras_give_up_on_an_impossible_grid():
    with pytest.raises(SplitError):
        offgrid_cameras(5, GRID, (20.0, 90.0), np.random.default_rng(0), min_distance_deg=40.0)


def test_heldout_models_and_panoramas_are_seeded_subsets():
    held = choose_heldout_models(MODELS, 0.2, np.random.default_rng(3))
    assert len(held) == 2 and set(held) <= set(MODELS)
    assert held == choose_heldout_models(MODELS, 0.2, np.random.default_rng(3))
    train, test = split_panoramas(PANORAMAS, 3, np.random.default_rng(3))
    assert len(test) == 3 and sorted(train + test) == PANORAMAS and not set(train) & set(test)
    with pytest.raises(SplitError):
        split_panoramas(PANORAMAS[:3], 3, np.random.default_rng(0))
    with pytest.raises(SplitError):
        choose_heldout_models(MODELS[:1], 0.2, np.random.default_rng(0))


def test_make_split_pairs_render_and_photo_and_round_trips(tmp_path):
    split = make_split(MODELS, GRID, PANORAMAS, 12, seed=5)
    render, photo, heldout = (split.sets[n] for n in ("render", "photo", "heldout_models"))
    assert len(render) == len(photo) == len(heldout) == 12
    assert [(q.model_id, q.camera) for q in render] == [(q.model_id, q.camera) for q in photo]
    assert {q.background for q in render} == {None}
    assert {q.background for q in photo} <= set(split.test_panoramas)
    assert not {q.model_id for q in render} & set(split.heldout_models)
    assert {q.model_id for q in heldout} <= set(split.heldout_models)
    split.save(tmp_path / "split.json")
    assert EvaluationSplit.load(tmp_path / "split.json") == split
    assert make_split(MODELS, GRID, PANORAMAS, 12, seed=6).sets["render"] != render


def _square_rgba(size=32):
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[8:24, 8:24] = (200, 30, 30, 255)
    return rgba


def test_photo_like_puts_the_object_on_the_panorama():
    pano = np.zeros((64, 128, 3), np.uint8)
    pano[..., 1] = 180  # a green world
    image = photo_like(_square_rgba(), pano, np.random.default_rng(0))
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert image[16, 16, 0] > 120 and image[16, 16, 1] < 90  # object stays red (jitter is mild)
    assert image[2, 2, 1] > 120 and image[2, 2, 0] < 40  # background is the panorama, not white


def test_compose_needs_panoramas_only_for_photo_queries():
    rgba = _square_rgba()[None]
    white = compose([Query("m", (0.0, 0.0, 1.0))], rgba, None)
    assert tuple(white[0, 0, 0]) == (255, 255, 255) and tuple(white[0, 16, 16]) == (200, 30, 30)
    with pytest.raises(SplitError):
        compose([Query("m", (0.0, 0.0, 1.0), "p0.exr", 1)], rgba, None)


def test_render_queries_matches_a_direct_render_in_query_order(tiny_cad_dir):
    from tests.conftest import render_rgb

    records = {m: ModelRecord(m, m, str(tiny_cad_dir / f), "h") for m, f in
               (("chair", "box_chair.glb"), ("stool", "stool.ply"))}
    cams = offgrid_cameras(3, GRID, (20.0, 90.0), np.random.default_rng(0))
    queries = [Query("chair", tuple(cams[0])), Query("stool", tuple(cams[1])), Query("chair", tuple(cams[2]))]
    images = compose(queries, render_queries(queries, records, 32, workers=1), None)
    direct = render_rgb(tiny_cad_dir / "box_chair.glb", cams[[0, 2]], size_px=32)
    np.testing.assert_array_equal(images[[0, 2]], direct)
    assert not np.array_equal(images[1], images[0])


def test_the_shipped_scratch_model_never_saw_a_heldout_model():
    import json

    from app.scratch import SHIPPED_DIR
    from evaluation.plan import EVALUATION_SEED

    manifest = json.loads((SHIPPED_DIR / "manifest.json").read_text())
    trained = manifest["data"]["model_ids"]
    excluded = manifest["data"]["heldout_models_excluded"]
    assert manifest["data"]["split_seed"] == EVALUATION_SEED and len(excluded) >= 1
    assert not set(trained) & set(excluded)
    # the evaluation draws its held-out models first, from the sorted catalogue ids and its seed
    catalogue = sorted(trained + excluded)
    assert choose_heldout_models(catalogue, 0.2, np.random.default_rng(EVALUATION_SEED)) == sorted(excluded)
    assert not set(manifest["data"]["panoramas"]) & set(json.loads(
        (SHIPPED_DIR.parents[2] / "docs" / "evaluation_split.json").read_text())["test_panoramas"])
