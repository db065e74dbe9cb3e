"""Renderer: output format, framing, the camera/image conventions, materials, lighting.

Each test body runs in `clean_process` (no TensorFlow there); render.renderer is imported only there.
"""

from __future__ import annotations

import functools
import sys
import types
from pathlib import Path

import numpy as np
import trimesh

from render.cameras import angles_to_camera, sphere_cameras
from render.mesh import load_scene
from tests.render.conftest import colour_mask
from tests.shapes import BLUE, GREEN, RED, YELLOW, make_box_chair

SIZE = 64


@functools.cache
def _renderer():
    from render.renderer import Renderer

    return Renderer(SIZE)


def _view(scene: trimesh.Scene, polar: float, azimuth: float) -> np.ndarray:
    return _renderer().render(scene, angles_to_camera(np.array([polar]), np.array([azimuth])))[0]


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(mask)
    return rows.mean() / mask.shape[0], cols.mean() / mask.shape[1]


def test_output_is_rgba_with_coverage_alpha(clean_process, chair_files: dict[str, Path]) -> None:
    clean_process(_output_is_rgba_with_coverage_alpha, chair_files["glb"])


def _output_is_rgba_with_coverage_alpha(path: Path) -> None:
    images = _renderer().render(load_scene(path), sphere_cameras(1))
    assert images.shape == (len(sphere_cameras(1)), SIZE, SIZE, 4) and images.dtype == np.uint8
    assert set(np.unique(images[..., 3])) == {0, 255}
    assert np.all(images[..., :3][images[..., 3] == 0] == 0)
    # Unit diagonal framed with a margin: every view is non-empty and never touches the border.
    assert np.all((images[..., 3] > 0).sum(axis=(1, 2)) > 0.05 * SIZE * SIZE)
    alpha = images[..., 3]
    assert not (alpha[:, [0, -1], :].any() or alpha[:, :, [0, -1]].any())


def test_view_conventions(clean_process, chair_files: dict[str, Path]) -> None:
    clean_process(_view_conventions, chair_files["glb"])


def _view_conventions(path: Path) -> None:
    chair = load_scene(path)
    front = _view(chair, 90, 0)
    red, blue, green = (colour_mask(front, c).sum() for c in (RED, BLUE, GREEN))
    assert red > 40 and blue < red / 4, "camera (0, 0, 1) must see the red front"
    assert _centroid(colour_mask(front, GREEN))[0] < 0.45, "image up must be world +Y"
    back = _view(chair, 90, 180)
    assert colour_mask(back, RED).sum() == 0 and colour_mask(back, GREEN).sum() > green
    side = _view(chair, 90, 90)
    blue, red = colour_mask(side, BLUE).sum(), colour_mask(side, RED).sum()
    assert blue > 40 and red < blue / 4, "camera (1, 0, 0) must see the blue +X side"
    # Seen from +X with roll 0 the front (+Z) is on the image's left, so the back rest is on its right.
    assert _centroid(colour_mask(side, GREEN))[1] > 0.6


def test_polar_20_looks_down_on_the_seat(clean_process, chair_files: dict[str, Path]) -> None:
    clean_process(_polar_20_looks_down_on_the_seat, chair_files["glb"])


def _polar_20_looks_down_on_the_seat(path: Path) -> None:
    chair = load_scene(path)
    above, level, below = (colour_mask(_view(chair, p, 0), YELLOW).sum() for p in (20, 90, 160))
    assert above > 0.1 * SIZE * SIZE and level < above / 10 and below == 0
    front_from_above = _view(chair, 20, 0)
    # Looking down from the front, the +X strip is on the right, the red front edge at the bottom.
    assert _centroid(colour_mask(front_from_above, BLUE))[1] > 0.6
    red_row, green_row = (_centroid(colour_mask(front_from_above, c))[0] for c in (RED, GREEN))
    assert red_row > green_row


def test_obj_texture_is_rendered(clean_process, textured_obj: Path) -> None:
    clean_process(_obj_texture_is_rendered, textured_obj)


def _obj_texture_is_rendered(path: Path) -> None:
    quad = _view(load_scene(path), 90, 0)
    left, right = quad[:, : SIZE // 2], quad[:, SIZE // 2 :]
    assert colour_mask(left, RED).sum() > 200 and colour_mask(right, BLUE).sum() > 200
    assert colour_mask(left, BLUE).sum() == 0 and colour_mask(right, RED).sum() == 0


def test_grey_alpha_and_oversized_textures_are_converted(clean_process, textured_obj: Path) -> None:
    from PIL import Image

    luminance = np.zeros((8, 2048), dtype=np.uint8)
    luminance[:, :1024], luminance[:, 1024:] = 40, 250
    alpha = np.full_like(luminance, 255)
    grey_alpha = Image.fromarray(np.stack([luminance, alpha], axis=-1), mode="LA")
    grey_alpha.save(textured_obj.with_name("texture.png"))
    clean_process(_dark_left_bright_right, textured_obj)


def _dark_left_bright_right(path: Path) -> None:
    quad = _view(load_scene(path), 90, 0)
    # Kept as a texture (dark left, bright right), not replaced by the uniform fallback grey.
    assert quad[:, : SIZE // 2, :3].mean() + 60 < quad[:, SIZE // 2 :, :3].mean()


def test_unconvertible_material_falls_back_to_grey(clean_process) -> None:
    clean_process(_unconvertible_material_falls_back_to_grey)


def _unconvertible_material_falls_back_to_grey() -> None:
    chair = make_box_chair().apply_scale(0.5)
    # A two-channel texture array: pyrender refuses to format it as RGBA.
    two_channels = np.full((4, 4, 2), (200, 50), dtype=np.uint8)
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=two_channels)
    chair.visual = trimesh.visual.TextureVisuals(uv=np.zeros((len(chair.vertices), 2)), material=material)
    image = _view(trimesh.Scene(chair), 90, 30)
    covered = image[image[..., 3] == 255][:, :3].astype(int)
    assert len(covered) > 100
    assert np.abs(covered - covered.mean(axis=1, keepdims=True)).max() <= 2  # grey everywhere


def test_lighting_changes_brightness(clean_process, chair_files: dict[str, Path]) -> None:
    clean_process(_lighting_changes_brightness, chair_files["glb"])


def _lighting_changes_brightness(path: Path) -> None:
    from render.renderer import Lighting

    chair, camera = load_scene(path), angles_to_camera(np.array([70.0]), np.array([30.0]))
    dim = _renderer().render(chair, camera, Lighting(key_intensity=1.0, ambient=0.1))
    bright = _renderer().render(chair, camera, Lighting(key_intensity=5.0, ambient=0.5))
    assert bright[..., :3].mean() > dim[..., :3].mean() + 10
    np.testing.assert_array_equal(dim[..., 3], bright[..., 3])
    random = Lighting.random(np.random.default_rng(0))
    assert _renderer().render(chair, camera, random)[..., 3].any()


def test_renderer_api_errors(clean_process, chair_files: dict[str, Path]) -> None:
    clean_process(_renderer_api_errors, chair_files["glb"])


def _renderer_api_errors(path: Path) -> None:
    import pytest

    from render.renderer import Renderer

    chair = load_scene(path)
    with Renderer(16) as small:
        with pytest.raises(ValueError, match="shape"):
            small.render(chair, np.zeros((2, 4)))
        with pytest.raises(ValueError, match="non-zero"):
            small.render(chair, np.zeros((1, 3)))
        assert small.render(chair, np.zeros((0, 3))).shape == (0, 16, 16, 4)
    with pytest.raises(RuntimeError, match="closed"):
        small.render(chair, np.array([[0.0, 0.0, 1.0]]))
    sys.modules["tensorflow"] = types.ModuleType("tensorflow")
    try:
        with pytest.raises(RuntimeError, match="TensorFlow"):
            Renderer(16)
    finally:
        del sys.modules["tensorflow"]


def test_shader_programs_are_reused(clean_process, chair_files: dict[str, Path]) -> None:
    clean_process(_shader_programs_are_reused, chair_files["glb"])


def _shader_programs_are_reused(path: Path) -> None:
    from render.renderer import Renderer

    # pyrender's own cache missed on every OSMesa draw and leaked a compiled program per view.
    with Renderer(16) as renderer:
        renderer.render(load_scene(path), sphere_cameras(1))
        renderer.render(load_scene(path), sphere_cameras(1))
        compiled = renderer._gl._renderer._program_cache._program_cache
        assert len(compiled) <= 2, f"{len(compiled)} shader programs compiled for one material kind"
