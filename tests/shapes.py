"""Tiny CAD models built from trimesh primitives, in the canonical frame (y up, front +Z)."""

from __future__ import annotations

import numpy as np
import trimesh

from tests.render.conftest import GREY, GREEN, _box, make_box_chair  # noqa: F401  (re-exported)

BROWN, ORANGE = (120, 80, 40), (230, 130, 30)


def make_stool() -> trimesh.Trimesh:
    """A round orange seat on three brown legs; rotationally near-symmetric, unlike the chair."""
    seat = trimesh.creation.cylinder(radius=0.25, height=0.06, sections=24)
    seat.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    seat.apply_translation((0, 0.7, 0))
    seat.visual.face_colors = [*ORANGE, 255]
    legs = []
    for angle in (0, 2 * np.pi / 3, 4 * np.pi / 3):
        leg = _box((0.04, 0.7, 0.04), (0.18 * np.sin(angle), 0.35, 0.18 * np.cos(angle)), BROWN)
        legs.append(leg)
    return trimesh.util.concatenate([seat, *legs])


def make_sofa() -> trimesh.Trimesh:
    """A wide low green sofa with arms and a back rest at the rear (-Z)."""
    return trimesh.util.concatenate([
        _box((1.6, 0.35, 0.7), (0, 0.175, 0), GREEN),
        _box((1.6, 0.45, 0.15), (0, 0.575, -0.275), GREEN),
        _box((0.15, 0.25, 0.7), (-0.725, 0.475, 0), GREY),
        _box((0.15, 0.25, 0.7), (0.725, 0.475, 0), GREY),
    ])
