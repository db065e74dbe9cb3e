"""Minetest Home Decor seats: groups painted with their tiles, and (from Debian's package) the canonical frame."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from catalogue.default import build_catalogue
from catalogue.homedecor import SOURCE, with_materials
from render.mesh import load_scene
from tests.catalogue.frame import assert_unit_and_centred, backrest_behind_fraction


def test_each_group_gets_its_tile() -> None:
    text = with_materials("v 0 0 0\ng 1\nf 1 1 1\ng 2\nf 1 1 1\n")
    assert text.splitlines() == ["v 0 0 0", "g 1", "usemtl tile1", "f 1 1 1", "g 2", "usemtl tile2", "f 1 1 1"]
    assert with_materials("v 0 0 0\nf 1 1 1\n").startswith("usemtl tile1\n")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get (Debian)")
def test_real_homedecor_package(tmp_path: Path) -> None:
    entries = {e.model_id: e for e in build_catalogue(tmp_path / "packages", tmp_path / "cat", progress=False,
                                                      sources=(SOURCE,))}
    assert len(entries) == 10
    assert {e.licence for e in entries.values()} == {"CC-BY-SA-4.0"}  # Debian's copyright, */models/*
    assert all("Ezekowitz" in e.creator for e in entries.values())
    # Upright in its file but facing -Z, and lying on its back (a wall-mounted node), both turned.
    for model_id in ("homedecor#homedecor_office_chair_basic", "homedecor#lrfurn_armchair"):
        entry = entries[model_id]
        scene = load_scene(Path(entry.model_path), entry.rotation)
        assert_unit_and_centred(scene)
        assert backrest_behind_fraction(scene) > 0.9, model_id
    textured = Path(entries["homedecor#homedecor_deckchair"].model_path).with_name("homedecor_deckchair.png")
    assert textured.is_file()
    shutil.rmtree(tmp_path / "packages")
