"""Checks that a loaded scene is in the canonical frame: centred, unit diagonal, up +Y, front +Z."""

from __future__ import annotations

import numpy as np
import trimesh


def surface_points(scene: trimesh.Scene, count: int = 20000) -> np.ndarray:
    """(count, 3) float64 points spread over the scene's surface by area (seeded)."""
    mesh = trimesh.util.concatenate(list(scene.geometry.values()))
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=0)
    return points


def assert_unit_and_centred(scene: trimesh.Scene) -> None:
    low, high = scene.bounds
    assert np.linalg.norm(high - low) == np.float64(1.0) or np.isclose(np.linalg.norm(high - low), 1.0)
    assert np.allclose((low + high) / 2, 0.0, atol=1e-6)


def backrest_behind_fraction(scene: trimesh.Scene) -> float:
    """Share of the highest surface (top 15 % of the height) behind the centre (z < 0): close to 1 for a
    seat with a backrest that stands upright (+Y) and faces +Z; low when lying, upside down or turned."""
    points = surface_points(scene)
    low, high = points[:, 1].min(), points[:, 1].max()
    top = points[points[:, 1] > high - 0.15 * (high - low)]
    return float((top[:, 2] < 0).mean())


def seat_on_top_ratio(scene: trimesh.Scene) -> float:
    """Surface in the top 10 % of the height over surface in the bottom 10 %: above 1 for a stool
    standing up (a seat on top, thin legs below); below 1 upside down."""
    points = surface_points(scene)
    low, high = points[:, 1].min(), points[:, 1].max()
    top = (points[:, 1] > high - 0.1 * (high - low)).sum()
    bottom = (points[:, 1] < low + 0.1 * (high - low)).sum()
    return float(top / max(bottom, 1))
