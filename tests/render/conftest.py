"""Test data for render/: a colour-coded box chair, a textured quad, and a TensorFlow-free process."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import trimesh

from tests.shapes import BLUE, RED, make_box_chair


@pytest.fixture
def box_chair() -> trimesh.Trimesh:
    return make_box_chair()


@pytest.fixture
def chair_files(tmp_path: Path, box_chair: trimesh.Trimesh) -> dict[str, Path]:
    """The box chair written as OBJ, GLB, STL, PLY and OFF; maps extension -> path."""
    paths = {}
    for ext in ("obj", "glb", "stl", "ply", "off"):
        paths[ext] = tmp_path / f"chair.{ext}"
        box_chair.export(paths[ext])
    return paths


def colour_mask(rgba: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    """(H, W) bool: covered pixels with the hue of the saturated colour `rgb`.

    Shading and pyrender's sRGB output change brightness and saturation, so the comparison is between
    the colours minus their grey part (each minus its smallest channel), by direction.
    """
    chroma = rgba[..., :3].astype(np.float64) - rgba[..., :3].min(axis=-1, keepdims=True)
    target = np.asarray(rgb, dtype=np.float64) - min(rgb)
    cosine = chroma @ target / (np.linalg.norm(chroma, axis=-1) * np.linalg.norm(target) + 1e-9)
    return (rgba[..., 3] == 255) & (chroma.max(axis=-1) > 30) & (cosine > 0.95)


@pytest.fixture
def textured_obj(tmp_path: Path) -> Path:
    """A unit quad facing +Z in an OBJ with an MTL and a PNG texture: left half red, right half blue."""
    from PIL import Image

    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    pixels[:, :4], pixels[:, 4:] = RED, BLUE
    Image.fromarray(pixels).save(tmp_path / "texture.png")
    (tmp_path / "quad.mtl").write_text("newmtl painted\nKd 1 1 1\nmap_Kd texture.png\n")
    (tmp_path / "quad.obj").write_text(
        "mtllib quad.mtl\nusemtl painted\n"
        "v -1 -1 0\nv 1 -1 0\nv 1 1 0\nv -1 1 0\n"
        "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
        "f 1/1 2/2 3/3\nf 1/1 3/3 4/4\n"
    )
    return tmp_path / "quad.obj"


@pytest.fixture(scope="session")
def clean_process() -> Iterator[Callable]:
    """`run(fn, *args)`: call a module-level function in a spawned process that never loads TensorFlow.

    Other test packages load TensorFlow into the pytest process, and OSMesa crashes beside it
    (render.renderer refuses to import there), so every in-process render runs in this child.
    Exceptions, assertion failures included, are re-raised here with the child's traceback.
    """
    pool = mp.get_context("spawn").Pool(1)
    try:
        yield lambda fn, *args: pool.apply(fn, args)
    finally:
        pool.terminate()
        pool.join()
