"""The committed seat packs: complete manifests, and each pack's models load in the canonical frame."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from catalogue.entry import CatalogueError
from catalogue.packs import PACKS_DIR, pack_entries, pack_seats, read_manifests
from catalogue.seats import SEAT_KINDS
from render.mesh import load_scene
from tests.catalogue.frame import assert_unit_and_centred, backrest_behind_fraction, seat_on_top_ratio

PACKS = {"aws-robomaker", "aws-robomaker-bookstore", "kaykit-furniture-bits", "kenney-furniture-kit",
         "quaternius-furniture", "quaternius-showcase"}
# One seat with a backrest per pack; several have a recorded rotation (turned or lying in their file).
WITH_BACKREST = ["aws-robomaker#ChairA_01", "kaykit-furniture-bits#chair_A", "kenney-furniture-kit#chair",
                 "quaternius-furniture#2017_Chair", "quaternius-furniture#2019_OfficeChair",
                 "quaternius-showcase#Chair_1"]


def _entries() -> dict:
    return {entry.model_id: (entry, glb) for entry, glb in pack_entries()}


def test_every_pack_model_has_licence_creator_and_origin() -> None:
    manifests = read_manifests()
    assert set(manifests) == PACKS
    for manifest in manifests.values():
        assert manifest["licence"] in {"CC0", "MIT-0"} and manifest["creator"]
        assert manifest.get("licence_file") or manifest.get("licence_note")
        assert re.fullmatch(r"[0-9a-f]{40}", manifest["commit"])
        assert all(model["origin"] and model["seat_kind"] in SEAT_KINDS for model in manifest["models"])
    entries = [entry for entry, _ in pack_entries()]
    assert len(entries) == len({e.model_id for e in entries}) == 60
    assert all(e.licence and e.creator and e.source.startswith("github.com/") for e in entries)
    assert set(Counter(e.seat_kind for e in entries)) == set(SEAT_KINDS)


def test_packs_stay_small() -> None:
    sizes = [glb.stat().st_size for _, glb in pack_entries()]
    assert max(sizes) < 300 * 1024 and sum(sizes) < 4 * 1024 * 1024


@pytest.mark.parametrize("model_id", WITH_BACKREST)
def test_seat_with_backrest_stands_up_and_faces_front(model_id: str) -> None:
    entry, glb = _entries()[model_id]
    scene = load_scene(glb, entry.rotation, entry.size_cm)
    assert_unit_and_centred(scene)
    assert backrest_behind_fraction(scene) > 0.9


def test_turning_a_chair_round_is_detected() -> None:
    _, glb = _entries()["kenney-furniture-kit#chair"]
    assert backrest_behind_fraction(load_scene(glb)) < 0.1  # its file faces -Z: the rotation matters


def test_bookstore_stool_stands_on_its_legs() -> None:
    entry, glb = _entries()["aws-robomaker-bookstore#ChairB_01"]
    scene = load_scene(glb, entry.rotation, entry.size_cm)
    assert_unit_and_centred(scene)
    assert seat_on_top_ratio(scene) > 2
    assert seat_on_top_ratio(load_scene(glb, np.diag([1.0, -1.0, -1.0]))) < 0.5  # upside down


def test_seats_are_copied_once_with_relative_paths(tmp_path: Path) -> None:
    entries = pack_seats({}, tmp_path, progress=False)
    first = tmp_path / entries[0].model_path
    assert first.is_file() and not Path(entries[0].model_path).is_absolute()
    stamp = first.stat().st_mtime_ns
    pack_seats({}, tmp_path, progress=False)
    assert first.stat().st_mtime_ns == stamp


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("creator"), "lacks creator"),
    (lambda m: m["models"][0].pop("origin"), "lacks origin"),
    (lambda m: m["models"][0].update(seat_kind="throne"), "unknown seat kind"),
    (lambda m: m["models"][0].update(file="missing.glb"), "not there"),
])
def test_incomplete_manifest_is_refused(tmp_path: Path, change, message: str) -> None:
    pack = tmp_path / "kenney-furniture-kit"
    shutil.copytree(PACKS_DIR / "kenney-furniture-kit", pack)
    manifest = json.loads((pack / "manifest.json").read_text())
    change(manifest)
    (pack / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CatalogueError, match=message):
        read_manifests(tmp_path)
