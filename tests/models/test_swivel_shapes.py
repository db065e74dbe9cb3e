"""tools/swivel/generate.py (a chair's seat and back on an office chair's base) and the committed swivel set."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from models.training_data import shape_set_models
from tests.shapes import make_box_chair

ROOT = Path(__file__).resolve().parents[2]
SET = ROOT / "training_shapes" / "swivel"
MANIFEST = json.loads((SET / "manifest.json").read_text())
_spec = importlib.util.spec_from_file_location("swivel_generate", ROOT / "tools" / "swivel" / "generate.py")
swivel = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = swivel  # its dataclasses look their module up
_spec.loader.exec_module(swivel)


def test_the_seat_of_a_chair_is_found_at_its_height():
    seat = swivel.find_seat(make_box_chair())  # seat 0.45-0.50 high, 0.5 x 0.5, a cushion on top to 0.51
    assert 0.49 <= seat.top_y <= 0.52
    assert 0.44 <= seat.under_y <= 0.46
    assert seat.floor_y == pytest.approx(0.0)
    assert np.allclose(seat.centre_xz, 0.0, atol=0.03) and min(seat.half_xz) >= 0.2


def test_a_shape_without_a_seat_is_refused():
    with pytest.raises(swivel.SwivelError):
        swivel.find_seat(trimesh.creation.box([0.1, 1.0, 0.1]).apply_translation([0, 0.5, 0]))


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    source = tmp_path_factory.mktemp("chair") / "chair.glb"
    trimesh.Scene(make_box_chair()).export(source)
    return {seed: swivel.swivel_chair(source, seed) for seed in range(6)}


def test_the_legs_are_replaced_by_a_base_and_the_seat_and_back_are_kept(made):
    for scene, recipe in made.values():
        low, high = scene.bounds
        assert np.allclose((low + high) / 2, 0, atol=1e-6) and np.linalg.norm(high - low) == pytest.approx(1.0)
        seat = [g for name, g in scene.geometry.items() if name.startswith("seat")]
        base = [g for name, g in scene.geometry.items() if name.startswith("base")]
        assert len(base) == 1 and seat
        seat_low = min(g.bounds[0][1] for g in seat)
        # The source's legs (0 to 0.45 of 1.0 high) are gone: nothing of the seat part reaches below the seat.
        assert seat_low > low[1] + 0.35 * (high[1] - low[1])
        # The back (green, at -Z in the source) is still behind the seat: front stays +Z.
        back = max(seat, key=lambda g: g.bounds[1][1])
        assert back.bounds[1][1] == pytest.approx(high[1]) and back.centroid[2] < 0
        # The base stands on the floor and is wider than the old legs' 0.44 footprint (arms or pedestal).
        (b,) = base
        assert b.bounds[0][1] == pytest.approx(low[1], abs=1e-6)
        footprint = b.vertices[b.vertices[:, 1] < low[1] + 0.1 * (high[1] - low[1])]
        assert np.ptp(footprint[:, 0]) > np.ptp(np.concatenate([g.vertices for g in seat])[:, 0]) * 0.9
        assert recipe["style"] in {"star_casters", "star_glides", "pedestal"}


def test_seeds_draw_different_bases(made):
    recipes = [r for _, r in made.values()]
    assert len({(r["style"], r["radius"], r["colour"]) for r in recipes}) == len(recipes)


@pytest.mark.parametrize("flag, value", [("--chairs", "-1"), ("--armchairs", "two"), ("--chairs", "1.5")])
def test_a_bad_count_is_a_one_line_error_and_writes_nothing(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as stop:
        swivel.main(["--out", str(tmp_path / "out"), flag, value])
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {flag}: must be a whole number, 0 or more, got '{value}'" in error
    assert not (tmp_path / "out").exists()


def test_committed_set_matches_its_manifest_and_loads_for_training():
    shapes = MANIFEST["shapes"]
    source = json.loads((ROOT / "training_shapes" / "infinigen" / "manifest.json").read_text())
    source_files = {f"infinigen/{s['file']}" for s in source["shapes"] if s["kind"] == "chair"}
    assert len(shapes) >= 100 and not MANIFEST["skipped"]
    assert {s["source"] for s in shapes} <= source_files and len({s["source"] for s in shapes}) == len(shapes)
    assert {p.relative_to(SET).as_posix() for p in SET.rglob("*.glb")} == {s["file"] for s in shapes}
    for shape in shapes:
        assert hashlib.sha256((SET / shape["file"]).read_bytes()).hexdigest() == shape["sha256"]
    assert sum((SET / s["file"]).stat().st_size for s in shapes) < 12e6
    models = shape_set_models(SET / "manifest.json")
    assert len(models) == len(shapes) and {m.seat_kind for m in models} == {"office_chair"}
    assert all(m.model_id.startswith("swivel/") for m in models)
