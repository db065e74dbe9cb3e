"""The committed Infinigen training shapes: manifest, canonical frame, and loading for training."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import trimesh

from catalogue.seats import SEAT_KINDS
from models.training_data import TrainingDataError, render_training_views, shape_set_models
from render.cameras import angles_to_camera
from render.mesh import load_scene

ROOT = Path(__file__).resolve().parents[2] / "training_shapes" / "infinigen"
MANIFEST = json.loads((ROOT / "manifest.json").read_text())
SHAPES = MANIFEST["shapes"]
COMMITTED = 522  # at least this many of the planned shapes are committed (README.md there says how many)
BACKLESS = {"bar_stool", "low_bar_stool", "low_stool", "backless_bench"}
# One shape of every recipe: the first seed of each.
SAMPLE = [next(s for s in SHAPES if s["recipe"] == r["name"]) for r in MANIFEST["recipes"]]


def test_manifest_lists_planned_shapes_once_with_their_seed_and_kind():
    planned = {(r["name"], r["seed_base"] + i) for r in MANIFEST["recipes"] for i in range(r["count"])}
    made = [(s["recipe"], s["seed"]) for s in SHAPES]
    assert len(planned) >= 500
    assert len(made) == len(set(made)) >= COMMITTED and set(made) <= planned
    kinds = {r["name"]: r["kind"] for r in MANIFEST["recipes"]}
    assert all(s["kind"] == kinds[s["recipe"]] and s["kind"] in SEAT_KINDS for s in SHAPES)
    assert set(Counter(s["kind"] for s in SHAPES)) == set(SEAT_KINDS)
    assert all(s["file"] == f"{s['kind']}/{s['recipe']}_{s['seed']}.glb" for s in SHAPES)
    assert "BSD-3-Clause" in MANIFEST["licence"] and MANIFEST["infinigen_version"] == "1.15.5"


def test_every_listed_file_exists_is_compact_and_nothing_else_is_stored():
    files = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.glb")}
    assert files == {s["file"] for s in SHAPES}
    # Blender's collapse stops short on some thin frames: chair_100085 kept 3,510 faces of a 3,000 target.
    assert all(s["faces"] <= 1.2 * MANIFEST["target_faces"] for s in SHAPES)
    assert sum((ROOT / f).stat().st_size for f in files) < 40e6


@pytest.mark.parametrize("shape", SAMPLE, ids=lambda s: s["recipe"])
def test_stored_shape_is_already_in_the_canonical_frame(shape):
    raw = trimesh.load(ROOT / shape["file"], force="mesh", process=False)
    low, high = raw.bounds
    assert np.allclose((low + high) / 2, 0, atol=1e-5)
    assert np.linalg.norm(high - low) == pytest.approx(1.0, abs=1e-5)
    assert len(raw.faces) == shape["faces"]
    # The project's loader leaves it where it is (centred, unit diagonal): nothing to re-normalise.
    loaded = np.concatenate([g.vertices for g in load_scene(ROOT / shape["file"]).dump()])
    assert np.allclose(loaded.min(axis=0), low, atol=1e-5) and np.allclose(loaded.max(axis=0), high, atol=1e-5)


@pytest.mark.parametrize("shape", [s for s in SAMPLE if s["recipe"] not in BACKLESS], ids=lambda s: s["recipe"])
def test_up_is_plus_y_and_the_back_is_behind(shape):
    """The highest part of a seat with a back is its back: above the centre and behind it (-Z), so a
    shape upside down, lying on its side or turned round fails."""
    vertices = np.concatenate([g.vertices for g in load_scene(ROOT / shape["file"]).dump()])
    top = vertices[vertices[:, 1] > vertices[:, 1].max() - 0.1]
    assert top[:, 2].mean() < -0.05


def test_shape_set_models_gives_one_training_model_per_shape_with_its_kind():
    models = shape_set_models(ROOT / "manifest.json")
    assert len(models) == len(SHAPES)
    assert Counter(m.seat_kind for m in models) == Counter(s["kind"] for s in SHAPES)
    assert all(Path(m.path).is_file() and m.model_id.startswith("infinigen/") for m in models)
    benches = shape_set_models(ROOT / "manifest.json", kinds=["bench"])
    assert benches and {m.seat_kind for m in benches} == {"bench"}


def test_shape_set_models_refuses_missing_files_and_bad_manifests(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"shapes": [{"file": "x.glb", "kind": "chair"}]}))
    with pytest.raises(TrainingDataError, match="missing"):
        shape_set_models(tmp_path / "manifest.json")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(TrainingDataError, match="cannot read"):
        shape_set_models(tmp_path / "manifest.json")
    with pytest.raises(TrainingDataError, match="cannot read"):
        shape_set_models(tmp_path / "absent.json")


def test_training_renders_include_the_shapes(tmp_path):
    """The training data code renders them like catalogue models (spawn workers, no TensorFlow here)."""
    models = [m for m in shape_set_models(ROOT / "manifest.json") if m.model_id.endswith(("_100000", "_400000"))]
    cameras = angles_to_camera(np.array([70.0, 70.0]), np.array([30.0, 210.0]))
    views = render_training_views(models, cameras, 32, 1, tmp_path, workers=1, progress=False)
    assert views.rgba.shape == (4, 32, 32, 4) and views.seat_kinds == ["chair", "sofa"]
    coverage = (views.rgba[..., 3] > 0).mean(axis=(1, 2))
    assert np.all(coverage > 0.05), coverage


def test_train_cli_refuses_a_missing_shape_set_before_any_work(tmp_path, capsys):
    """Refused while the arguments are read: before the catalogue, the panoramas or any render."""
    from app.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["train", "--out", str(tmp_path / "model"), "--extra-shapes", str(tmp_path / "absent.json")])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "cannot read shape set manifest" in err and "Traceback" not in err
    assert not (tmp_path / "model").exists()
