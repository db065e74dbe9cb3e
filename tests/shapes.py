"""Tiny CAD models built from trimesh primitives, in the canonical frame (y up, front +Z)."""

from __future__ import annotations

import numpy as np
import trimesh

GREY, GREEN, RED, BLUE, YELLOW = (150, 150, 150), (40, 170, 40), (220, 30, 30), (30, 30, 220), (230, 210, 20)


def _box(extents: tuple[float, ...], centre: tuple[float, ...], rgb: tuple[int, ...]) -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=extents)
    box.apply_translation(centre)
    box.visual.face_colors = [*rgb, 255]
    return box


def make_box_chair() -> trimesh.Trimesh:
    """Chair in the canonical frame (y up, front +Z), ~0.5 wide, 1.0 high.

    Grey legs and seat, green back rest at the rear (-Z), red strip on the seat's front (+Z) edge,
    blue strip on its right (+X) edge, thin yellow cushion on top of the seat.
    """
    legs = [_box((0.04, 0.45, 0.04), (x, 0.225, z), GREY) for x in (-0.2, 0.2) for z in (-0.2, 0.2)]
    parts = legs + [
        _box((0.5, 0.05, 0.5), (0.0, 0.475, 0.0), GREY),
        _box((0.5, 0.5, 0.05), (0.0, 0.75, -0.225), GREEN),
        _box((0.4, 0.04, 0.02), (0.0, 0.475, 0.26), RED),
        _box((0.02, 0.04, 0.4), (0.26, 0.475, 0.0), BLUE),
        _box((0.44, 0.01, 0.44), (0.0, 0.505, 0.02), YELLOW),
    ]
    return trimesh.util.concatenate(parts)


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


def make_square_box() -> trimesh.Trimesh:
    """A square-footprint block (0.6 x 0.4 x 0.6): C4 about the up axis and both mirrors."""
    return _box((0.6, 0.4, 0.6), (0, 0.2, 0), GREY)


def make_round_stool() -> trimesh.Trimesh:
    """A round seat on a round column: rotationally symmetric for every angle about the up axis."""
    seat = trimesh.creation.cylinder(radius=0.25, height=0.06, sections=64)
    column = trimesh.creation.cylinder(radius=0.04, height=0.6, sections=64)
    base = trimesh.creation.cylinder(radius=0.18, height=0.03, sections=64)
    upright = trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0])
    for part, y in ((seat, 0.63), (column, 0.3), (base, 0.015)):
        part.apply_transform(upright)
        part.apply_translation((0, y, 0))
        part.visual.face_colors = [*ORANGE, 255]
    return trimesh.util.concatenate([seat, column, base])


def make_asymmetric_chair() -> trimesh.Trimesh:
    """The box chair with one arm rest on its right (+X) side only: no symmetry about the up axis."""
    arm = _box((0.05, 0.25, 0.45), (0.25, 0.62, 0.0), GREY)
    return trimesh.util.concatenate([make_box_chair(), arm])
