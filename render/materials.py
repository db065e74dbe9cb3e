"""Random materials for domain randomisation: each part of a model recoloured with its own random colour."""

from __future__ import annotations

import colorsys

import numpy as np
import trimesh


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """(4,) uint8 RGBA: a random hue, mostly muted saturations and any value (wood, fabric, metal, paint)."""
    hue, saturation, value = rng.uniform(0, 1), rng.uniform(0, 1) ** 2, rng.uniform(0.1, 1.0)
    rgb = colorsys.hsv_to_rgb(hue, saturation, value)
    return np.array([*(int(255 * c) for c in rgb), 255], np.uint8)


def randomise_materials(scene: trimesh.Scene, rng: np.random.Generator, p_recolour: float = 0.7,
                        ) -> trimesh.Scene:
    """A copy of `scene` where each triangle mesh (a part: seat, legs, cushions) is, with probability
    p_recolour, given a flat random colour instead of its material or texture. Geometry is unchanged."""
    out = scene.copy()
    for name, geometry in list(out.geometry.items()):
        if isinstance(geometry, trimesh.Trimesh) and len(geometry.faces) and rng.uniform() < p_recolour:
            colour = np.tile(random_colour(rng), (len(geometry.faces), 1))
            out.geometry[name] = trimesh.Trimesh(geometry.vertices, geometry.faces, face_colors=colour,
                                                 process=False)
    return out
