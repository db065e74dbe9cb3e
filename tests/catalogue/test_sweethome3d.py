"""Catalogue parsing and seat extraction on tiny hand-made Sweet Home 3D packages, and once on Debian's."""

from __future__ import annotations

import io
import json
import logging
import shutil
import struct
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from catalogue import sweethome3d
from catalogue.default import build_catalogue, load_catalogue, verify_models
from catalogue.entry import CatalogueError, safe_id
from catalogue.sh3d import class_string_constants, default_materials, fix_obj_faces, read_properties

SH3D = (sweethome3d.SOURCE,)  # the tiny packages hold Sweet Home 3D only
AMBER = "newmtl amber\nKa 0.05 0.05 0.05\nKd 0.5755 0.2678 0.0000\nNs 60\n"
TETRA = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nvt 0 0\nvt 1 0\nvt 0 1\nvt 1 1\n"
JAR_PROPS = """# catalogue \u00a9 header comment
id=SweetHome3D#DefaultModels
license=GNU GPL / CC-BY 3.0  \u00a9 eTeks
id#1=eTeks#chair
name#1=Chair
tags#1=Default, Seat
category#1=Living room
icon#1=/com/eteks/sweethome3d/io/resources/chair.png
model#1=/com/eteks/sweethome3d/io/resources/chair.obj
width#1=40
depth#1=42
height#1=90
modelRotation#1=1 0 0 \\
   0 1 0 0 0 1
creator#1=eTeks

id#2=eTeks#table
name#2=Round table
category#2=Living room
icon#2=/com/eteks/sweethome3d/io/resources/chair.png
model#2=/com/eteks/sweethome3d/io/resources/chair.obj
width#2=126
depth#2=126
height#2=74

id#3=eTeks#badstool
name#3=Stool
category#3=Living room
icon#3=/com/eteks/sweethome3d/io/resources/chair.png
model#3=/com/eteks/sweethome3d/io/resources/chair.obj
width#3=forty
depth#3=40
height#3=45
"""
PLUGIN_PROPS = """id=Tiny#Models
name=Tiny catalog
name#1=Leather sofa
tags#1=Couch
category#1=Living room
icon#1=/tiny/sofa.png
model#1=/tiny/sofa/sofa.obj
multiPartModel#1=true
width#1=200
depth#1=90
height#1=80
license#1=
"""


def _class_file(strings: list[str]) -> bytes:
    """A Java class file holding only a constant pool: the strings, plus a long and a class ref."""
    pool = b"".join(b"\x01" + struct.pack(">H", len(s.encode())) + s.encode() for s in strings)
    pool += b"\x05" + struct.pack(">q", 7) + b"\x07" + struct.pack(">H", 1)
    header = b"\xca\xfe\xba\xbe" + b"\x00\x00\x00\x34" + struct.pack(">H", len(strings) + 4)
    return header + pool + b"\x00" * 8


def _png(rgb: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(path: Path, members: dict[str, bytes | str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data.encode("latin-1") if isinstance(data, str) else data)


@pytest.fixture
def packages(tmp_path: Path) -> Path:
    """packages_dir laid out like the unpacked sweethome3d and sweethome3d-furniture .debs."""
    root = tmp_path / "packages"
    res = "com/eteks/sweethome3d/io/resources/"
    _zip(root / "sweethome3d/usr/share/sweethome3d/sweethome3d.jar", {
        "com/eteks/sweethome3d/io/DefaultFurnitureCatalog.properties": JAR_PROPS,
        "com/eteks/sweethome3d/j3d/OBJLoader.class": _class_file(["newmtl", AMBER]),
        res + "chair.obj": TETRA + "usemtl amber\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n",
        res + "chair.png": _png((200, 100, 0)),
    })
    _zip(root / "sweethome3d-furniture/usr/share/sweethome3d/furniture/Tiny.sh3f", {
        "PluginFurnitureCatalog.properties": PLUGIN_PROPS,
        "tiny/sofa.png": _png((0, 0, 200)),
        "tiny/sofa/sofa.obj": "mtllib sofa.mtl\n" + TETRA
        + "usemtl leather\nf 1/1 3/3 2/2\nf 1/1 2/2 4/4\nusemtl amber\nf 1 4 3\nf 2 3 4\n",
        "tiny/sofa/sofa.mtl": "newmtl leather\nKd 1 1 1\nmap_Kd C:\\Users\\me\\Desktop\\hide.png\n",
        "tiny/sofa/hide.png": _png((0, 200, 0)),
    })
    doc = root / "sweethome3d-furniture/usr/share/doc/sweethome3d-furniture"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("Format: x\n\nFiles: Tiny/*\nCopyright: me\nLicense: CC0\n\n"
                                   "Files: debian/*\nLicense: GPL-2+\n")
    return root


def test_build_extracts_seats_with_their_materials(packages: Path, tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="catalogue.sweethome3d"):
        entries = build_catalogue(packages, tmp_path / "cat", progress=False, sources=SH3D)
    assert [e.model_id for e in entries] == ["eTeks#chair", "Tiny#Models#tiny/sofa/sofa"]
    chair, sofa = entries
    assert (chair.seat_kind, sofa.seat_kind) == ("chair", "sofa")
    assert chair.size_cm == (40.0, 90.0, 42.0)
    assert chair.rotation == [[1, 0, 0], [0, 1, 0], [0, 0, 1]] and sofa.rotation is None
    assert (chair.licence, sofa.licence) == ("GPL-2+ OR CC-BY-3.0", "CC0")
    assert sofa.source == "sweethome3d-furniture/Tiny.sh3f" and sofa.tags == ["Couch"]
    assert "width is 'forty'" in caplog.text  # the malformed stool is skipped with a warning
    assert Image.open(sofa.icon_path).getpixel((0, 0)) == (0, 0, 200)
    assert verify_models(entries) == {}
    materials = {g.visual.material.name: g.visual.material for g in _geometries(chair) + _geometries(sofa)}
    assert np.allclose(materials["amber"].diffuse[:3], [147, 68, 0], atol=1)
    assert materials["leather"].image is not None


def _geometries(entry) -> list[trimesh.Trimesh]:
    return list(trimesh.load(entry.model_path, force="scene").geometry.values())


def test_build_is_idempotent_and_loadable(packages: Path, tmp_path: Path) -> None:
    out = tmp_path / "cat"
    first = build_catalogue(packages, out, progress=False, sources=SH3D)
    stamp = Path(first[0].model_path).stat().st_mtime_ns
    assert build_catalogue(packages, out, progress=False, sources=SH3D) == first
    assert Path(first[0].model_path).stat().st_mtime_ns == stamp  # not extracted again
    assert load_catalogue(out) == first
    saved = json.loads((out / "catalogue.json").read_text())
    assert saved["entries"][0]["model_path"].startswith("models/")  # portable: relative in the file


def test_verify_reports_broken_model(packages: Path, tmp_path: Path) -> None:
    entries = build_catalogue(packages, tmp_path / "cat", progress=False, sources=SH3D)
    Path(entries[1].model_path).write_text("this is not an OBJ\n")
    assert list(verify_models(entries)) == [entries[1].model_id]


def test_missing_catalogue_and_unreadable_library(packages: Path, tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="run build_catalogue"):
        load_catalogue(tmp_path / "nothing")
    (packages / "sweethome3d-furniture/usr/share/sweethome3d/furniture/Tiny.sh3f").write_bytes(b"junk")
    with pytest.raises(CatalogueError, match="Tiny.sh3f"):
        build_catalogue(packages, tmp_path / "cat", progress=False, sources=SH3D)


def test_read_properties_follows_java_rules() -> None:
    text = "# c\n! c\na = b\\\\\nc:d\\\n   e\nf g\\u00e9\nh\\=i=j\\t\n\u00e9t\u00e9=\u00a9 x\n"
    assert read_properties(text.encode("latin-1")) == {
        "a": "b\\", "c": "de", "f": "g\u00e9", "h=i": "j\t", "\u00e9t\u00e9": "\u00a9 x"}


def test_default_materials_come_from_the_class_constant_pool() -> None:
    assert default_materials(_class_file(["newmtl", AMBER, "other"])) == {"amber": AMBER.strip()}
    with pytest.raises(ValueError, match="not a Java class"):
        class_string_constants(b"PK\x03\x04")


def test_safe_id_is_a_unique_plain_name() -> None:
    assert safe_id("Blend Swap CC-0#chair").startswith("Blend_Swap_CC-0_chair-")
    assert safe_id("a#b") != safe_id("a b")


def test_concave_polygons_are_ear_clipped(tmp_path: Path) -> None:
    """An L-shaped face (area 3) whose first corner cannot see the others: a fan from it covers
    ground outside the L; ear clipping keeps every triangle inside. The convex quad is kept."""
    obj = tmp_path / "l.obj"
    corners = [(2, 1), (1, 1), (1, 2), (0, 2), (0, 0), (2, 0)]
    obj.write_text("".join(f"v {x} {y} 0\n" for x, y in corners) + "v 5 0 0\nv 6 0 0\nv 6 1 0\nv 5 1 0\n"
                   "f 1/1 2/1 3/1 4/1 5/1 6/1\nf -4 -3 -2 -1\n")
    assert fix_obj_faces(obj) == 1
    assert obj.read_text().splitlines()[-1] == "f -4 -3 -2 -1"
    mesh = trimesh.load(obj, force="mesh")
    l_shape = mesh.faces[mesh.vertices[mesh.faces].max(axis=(1, 2)) <= 2]
    assert len(l_shape) == 4 and np.isclose(trimesh.triangles.area(mesh.vertices[l_shape]).sum(), 3.0)
    centroids = mesh.vertices[l_shape].mean(axis=1)
    assert not np.any((centroids[:, 0] > 1) & (centroids[:, 1] > 1))  # nothing in the L's notch
    assert fix_obj_faces(obj) == 0  # idempotent


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get (Debian)")
def test_real_debian_packages(tmp_path: Path) -> None:
    everything = build_catalogue(tmp_path / "packages", tmp_path / "cat", progress=False)
    every_kind = Counter(e.seat_kind for e in everything)
    assert len(everything) == 174 and min(every_kind.values()) >= 5 and len(every_kind) == 7
    assert all(e.licence and e.licence != "unknown" for e in everything)
    entries = [e for e in everything if e.source.startswith("sweethome3d")]
    kinds = Counter(e.seat_kind for e in entries)
    assert len(entries) == 104 and kinds["chair"] == 38 and kinds["office_chair"] == 3
    ids = {e.model_id for e in entries}
    assert {"eTeks#chair", "Scopia#office_chair", "Blend Swap CC-0#thonet"} <= ids
    assert not ids & {"Scopia#seat_leon", "Blend Swap CC-0#caballito", "Scopia#ext_table"}
    assert {e.licence for e in entries} == {"GPL-2+ OR CC-BY-3.0", "CC-BY-3.0", "CC-BY-3.0-USA", "CC0"}
    assert verify_models(entries) == {}
    shutil.rmtree(tmp_path / "packages")  # ~300 MB unpacked: do not leave it to pytest's tmp retention
