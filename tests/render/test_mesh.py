"""load_scene: formats, canonical frame, rotation/size, validation; file_sha256 companions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from render.mesh import MeshError, file_sha256, load_scene


def _vertices(scene: trimesh.Scene) -> np.ndarray:
    return np.concatenate([g.vertices for g in scene.dump()])


@pytest.mark.parametrize("ext", ["obj", "glb", "stl", "ply", "off"])
def test_load_normalises_to_centred_unit_diagonal(chair_files: dict[str, Path], ext: str) -> None:
    scene = load_scene(chair_files[ext])
    low, high = _vertices(scene).min(axis=0), _vertices(scene).max(axis=0)
    np.testing.assert_allclose((low + high) / 2, 0.0, atol=1e-9)
    assert np.linalg.norm(high - low) == pytest.approx(1.0)
    # The chair is 0.52 wide (-0.25..0.27), 1.0 high, 0.52 deep: proportions survive normalisation.
    assert (high - low)[1] / (high - low)[0] == pytest.approx(1.0 / 0.52, rel=1e-6)
    assert all(np.allclose(scene.graph[n][0], np.eye(4)) for n in scene.graph.nodes_geometry)


@pytest.mark.parametrize("ext", ["obj", "glb", "ply"])
def test_load_keeps_colours(chair_files: dict[str, Path], ext: str) -> None:
    (mesh,) = load_scene(chair_files[ext]).geometry.values()
    colours = mesh.visual.face_colors[:, :3]
    assert np.any(np.all(colours == (220, 30, 30), axis=1)), "red front strip lost"


def test_rotation_then_size(chair_files: dict[str, Path]) -> None:
    quarter_turn = [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]  # R @ (0, 0, 1) = (1, 0, 0): front turns to +X
    (mesh,) = load_scene(chair_files["ply"], rotation=quarter_turn, size=(2.0, 1.0, 1.0)).geometry.values()
    extents = mesh.bounds[1] - mesh.bounds[0]
    np.testing.assert_allclose(extents / extents[1], [2.0, 1.0, 1.0], rtol=1e-6)
    red = np.all(mesh.visual.face_colors[:, :3] == (220, 30, 30), axis=1)
    assert mesh.triangles_center[red][:, 0].min() > 0.9 * mesh.bounds[1][0]


def test_scene_graph_transforms_are_baked(tmp_path: Path) -> None:
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box((1, 1, 1)), node_name="a")
    moved = trimesh.transformations.translation_matrix([9, 0, 0])
    scene.add_geometry(trimesh.creation.box((1, 1, 1)), node_name="b", transform=moved)
    scene.export(tmp_path / "two.glb")
    loaded = load_scene(tmp_path / "two.glb")
    extents = _vertices(loaded).max(axis=0) - _vertices(loaded).min(axis=0)
    np.testing.assert_allclose(extents / extents[1], [10.0, 1.0, 1.0], rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.obj", "", "file is empty"),
        ("text.obj", "Dear diary,\nnot a mesh at all.\n", "no triangle geometry"),
        ("nan.obj", "v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "NaN or infinite"),
        ("flat.obj", "v 0 0 0\nv 1 0 0\nv 1 0 0\nv 0 1 1\nf 1 2 3\nf 1 1 4\n", "zero surface area"),
        ("line.obj", "v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n", "degenerate bounding box"),
        ("huge.obj", "v 0 0 0\nv 1e9 0 0\nv 0 1e9 0\nf 1 2 3\n", "absurd size"),
        ("chair.fbx", "x", "unsupported file type"),
        ("broken.glb", "glTF garbage", "cannot read broken.glb"),
    ],
)
def test_bad_files_raise_mesh_error(tmp_path: Path, name: str, content: str, reason: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(MeshError, match=reason):
        load_scene(path)


def test_missing_file_and_bad_arguments(chair_files: dict[str, Path]) -> None:
    with pytest.raises(MeshError, match="no such file"):
        load_scene(chair_files["obj"].with_name("absent.obj"))
    with pytest.raises(MeshError, match="rotation"):
        load_scene(chair_files["obj"], rotation=np.zeros((3, 3)))
    with pytest.raises(MeshError, match="size"):
        load_scene(chair_files["obj"], size=(1.0, -1.0, 1.0))


def test_file_sha256_follows_mtl_and_textures(textured_obj: Path) -> None:
    before = file_sha256(textured_obj)
    assert file_sha256(textured_obj) == before
    texture = textured_obj.with_name("texture.png")
    texture.write_bytes(texture.read_bytes() + b"\0")
    after_texture = file_sha256(textured_obj)
    assert after_texture != before
    mtl = textured_obj.with_name("quad.mtl")
    mtl.write_text(mtl.read_text() + "\n# edited\n")
    assert file_sha256(textured_obj) != after_texture


def test_file_sha256_of_plain_file(chair_files: dict[str, Path]) -> None:
    assert file_sha256(chair_files["stl"]) != file_sha256(chair_files["ply"])
    assert len(file_sha256(chair_files["stl"])) == 64
