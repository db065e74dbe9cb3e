"""Offscreen OSMesa renderer: RGBA views of a unit-diagonal scene from cameras on the unit sphere."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def refuse_tensorflow() -> None:
    """Raise if TensorFlow is loaded: it and Mesa's OSMesa crash (segfault, bad free) in one process."""
    if "tensorflow" in sys.modules:
        raise RuntimeError(
            "TensorFlow is loaded in this process and crashes together with OSMesa; "
            "render in a worker process (render.pool.render_jobs) instead"
        )


# Loading libOSMesa next to TensorFlow is already enough to corrupt the heap, so check before pyrender.
refuse_tensorflow()
# pyrender picks its GL platform at import time; CPU-only OSMesa is the only one this project uses.
os.environ["PYOPENGL_PLATFORM"] = "osmesa"
if not hasattr(np, "infty"):
    np.infty = np.inf  # pyrender 0.1.45 still uses the alias removed in numpy 2

import pyrender
import trimesh
from PIL import Image
from pyrender.shader_program import ShaderProgramCache

from render.cameras import look_at_pose

OBJECT_RADIUS = 0.5  # bounding-sphere radius of a unit-diagonal, bbox-centred object
MAX_TEXTURE_PX = 1024  # larger textures only slow OSMesa down at 224 px output
_GREY = pyrender.MetallicRoughnessMaterial(
    baseColorFactor=[0.6, 0.6, 0.6, 1.0], metallicFactor=0.1, roughnessFactor=0.8
)


@dataclass(frozen=True)
class Lighting:
    """A directional key light that follows the camera, plus ambient light.

    key_intensity: pyrender DirectionalLight intensity. ambient: grey level in [0, 1].
    key_offset_deg: (right, up) angles by which the light direction is turned away from the view axis.
    """

    key_intensity: float = 3.0
    ambient: float = 0.35
    key_offset_deg: tuple[float, float] = (-15.0, 20.0)

    @classmethod
    def random(cls, rng: np.random.Generator) -> Lighting:
        """Random plausible lighting for augmentation."""
        offset = (float(rng.uniform(-45, 45)), float(rng.uniform(-10, 50)))
        return cls(float(rng.uniform(1.5, 5.0)), float(rng.uniform(0.15, 0.5)), offset)


class Renderer:
    """One OSMesa context, reused for every render call; close() it (or use `with`) to free it."""

    def __init__(self, size_px: int, yfov_deg: float = 35.0, margin: float = 1.05):
        """size_px: square image side. margin: radius of the fitted view over the object's radius."""
        refuse_tensorflow()
        if size_px <= 0 or not 0 < yfov_deg < 180 or margin < 1:
            raise ValueError(f"bad renderer settings: {size_px=}, {yfov_deg=}, {margin=}")
        self.size_px = size_px
        self.distance = OBJECT_RADIUS * margin / np.sin(np.radians(yfov_deg) / 2)
        self._camera = pyrender.PerspectiveCamera(
            yfov=np.radians(yfov_deg),
            znear=self.distance - OBJECT_RADIUS * 1.2,
            zfar=self.distance + OBJECT_RADIUS * 1.2,
            aspectRatio=1.0,
        )
        self._gl: pyrender.OffscreenRenderer | None = pyrender.OffscreenRenderer(size_px, size_px)
        self._gl._renderer._program_cache = _ProgramCache()

    def render(
        self, scene: trimesh.Scene, cameras: np.ndarray,
        lighting: Lighting | Sequence[Lighting] | None = None,
    ) -> np.ndarray:
        """Views of `scene` (canonical frame, unit diagonal) from each camera vector, roll 0.

        cameras: (n, 3) unit vectors from the object centre to the camera. lighting: one for every
        view, or one per view (n of them), or None for the default.
        Returns (n, size_px, size_px, 4) uint8 RGBA; alpha is 255 where the object covers the pixel, else 0.
        """
        if self._gl is None:
            raise RuntimeError("renderer is closed")
        cameras = _checked_cameras(cameras)
        lightings = _per_view(lighting, len(cameras))
        gl_scene = _pyrender_scene(scene, lightings[0].ambient)
        camera_node = gl_scene.add(self._camera)
        light = pyrender.DirectionalLight(color=np.ones(3), intensity=lightings[0].key_intensity)
        light_node = gl_scene.add(light)
        images = np.zeros((len(cameras), self.size_px, self.size_px, 4), dtype=np.uint8)
        for i, (camera, lit) in enumerate(zip(cameras, lightings)):
            pose = look_at_pose(camera, self.distance)
            gl_scene.set_pose(camera_node, pose)
            gl_scene.set_pose(light_node, pose @ _key_rotation(lit.key_offset_deg))
            light.intensity = lit.key_intensity
            gl_scene.ambient_light = np.full(3, lit.ambient)
            # Back faces are drawn: CAD models often have single-sided or inconsistently wound faces.
            color, depth = self._gl.render(gl_scene, flags=pyrender.RenderFlags.SKIP_CULL_FACES)
            images[i, ..., :3] = color[..., :3]
            # OSMesa gives RGB even when RGBA is asked for, so coverage comes from the depth buffer.
            images[i, ..., 3] = np.where(depth > 0, 255, 0)
        return images

    def close(self) -> None:
        if self._gl is not None:
            self._gl.delete()
            self._gl = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _per_view(lighting: Lighting | Sequence[Lighting] | None, n: int) -> list[Lighting]:
    if lighting is None or isinstance(lighting, Lighting):
        return [lighting or Lighting()] * max(n, 1)
    lightings = list(lighting)
    if len(lightings) != n:
        raise ValueError(f"{len(lightings)} lightings for {n} cameras")
    return lightings or [Lighting()]


class _ProgramCache(ShaderProgramCache):
    """pyrender keys compiled shaders by the current GL context object, but PyOpenGL's OSMesa context
    pointers never compare equal: every draw compiled a new program and leaked ~3-6 MB per view.
    One cache per Renderer (one context), so the shader names and defines are key enough."""

    def __init__(self) -> None:
        super().__init__()
        self._by_name: dict[tuple, Any] = {}

    def get_program(self, vertex_shader, fragment_shader, geometry_shader=None, defines=None):
        key = (vertex_shader, fragment_shader, geometry_shader, tuple(sorted((defines or {}).items())))
        if key not in self._by_name:
            self._by_name[key] = super().get_program(vertex_shader, fragment_shader, geometry_shader, defines)
        return self._by_name[key]

    def clear(self) -> None:
        super().clear()
        self._by_name.clear()


def _checked_cameras(cameras: np.ndarray) -> np.ndarray:
    c = np.asarray(cameras, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != 3:
        raise ValueError(f"cameras must have shape (n, 3), got {c.shape}")
    norms = np.linalg.norm(c, axis=1)
    if not np.all(np.isfinite(c)) or np.any(norms == 0):
        raise ValueError("cameras must be finite non-zero (n, 3) vectors")
    return c / norms[:, None]


def _key_rotation(offset_deg: tuple[float, float]) -> np.ndarray:
    """4x4 rotation turning the light's direction right then up, in the camera frame."""
    right, up = np.radians(offset_deg)
    turn_right = trimesh.transformations.rotation_matrix(right, [0, 1, 0])
    turn_up = trimesh.transformations.rotation_matrix(-up, [1, 0, 0])
    return turn_right @ turn_up


def _pyrender_scene(scene: trimesh.Scene, ambient: float) -> pyrender.Scene:
    """A pyrender scene holding every triangle mesh of `scene` at its scene-graph pose."""
    gl_scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=np.full(3, ambient))
    for node in scene.graph.nodes_geometry:
        transform, geometry_name = scene.graph[node]
        geometry = scene.geometry[geometry_name]
        if isinstance(geometry, trimesh.Trimesh) and len(geometry.faces):
            gl_scene.add(_pyrender_mesh(geometry), pose=transform)
    return gl_scene


def _pyrender_mesh(mesh: trimesh.Trimesh) -> pyrender.Mesh:
    """pyrender mesh with the trimesh materials; flat grey when pyrender cannot convert them."""
    try:
        # Flat shading: face colours require it, and CAD meshes often share vertices across hard edges.
        return pyrender.Mesh.from_trimesh(_render_ready(mesh), smooth=False)
    except Exception:  # pyrender raises assorted errors on exotic materials; the shape still matters
        plain = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
        return pyrender.Mesh.from_trimesh(plain, material=_GREY, smooth=False)


def _render_ready(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """`mesh` itself, or a copy whose texture images pyrender can upload (RGB/RGBA, bounded size)."""
    visual = mesh.visual
    if visual.kind != "texture":
        return mesh
    material = visual.material
    if visual.uv is None:
        # A textured material without UVs cannot be sampled; its main colour is the best we have.
        colour = np.asarray(material.main_color, dtype=np.uint8)
        return trimesh.Trimesh(mesh.vertices, mesh.faces, face_colors=colour, process=False)
    names = ("image", "baseColorTexture", "emissiveTexture", "normalTexture", "occlusionTexture",
             "metallicRoughnessTexture")
    images = {n: getattr(material, n, None) for n in names}
    fixed = {n: _displayable(im) for n, im in images.items() if isinstance(im, Image.Image)}
    if all(fixed[n] is images[n] for n in fixed):
        return mesh
    copy = mesh.copy()
    for name, image in fixed.items():
        setattr(copy.visual.material, name, image)
    return copy


def _displayable(image: Image.Image) -> Image.Image:
    """`image` if already RGB/RGBA and small enough, else a converted, shrunk copy."""
    result = image
    if result.mode not in ("RGB", "RGBA"):
        result = result.convert("RGBA")
    if max(result.size) > MAX_TEXTURE_PX:
        result = result.copy()
        result.thumbnail((MAX_TEXTURE_PX, MAX_TEXTURE_PX))
    return result
