"""A model's symmetries about the up axis, from its geometry, and the angular error they allow.

Detection: sample points on the surface of the normalised mesh (unit bounding-box diagonal), transform
them (a rotation about +Y, or a mirror x -> -x or z -> -z) and measure the symmetric chamfer distance to a
second, independent sample. The identity gives the sampling noise floor; a transform is a symmetry when
its distance exceeds that floor by less than `tolerance` (a fraction of the diagonal). Rotation orders 2,
3, 4 and 6 are tried; a model invariant under rotations by several angles that no small order explains
is rotationally symmetric for every angle ("continuous", order 0).

Equivalent cameras: only proper rotations leave the picture unchanged, so the symmetric error (as in the
BOP benchmark's treatment of symmetric objects) is the minimum over the rotation group; mirrors are
reported (a mirrored view is a mirror image, which embedders confuse) but do not make cameras equal.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from render.cameras import angular_error_deg, camera_to_angles
from render.mesh import load_scene

ORDERS = (2, 3, 4, 6)
CONTINUOUS_PROBES_DEG = (23.0, 47.0, 131.0)  # angles no order in ORDERS explains
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Symmetry:
    """rotation_order: 1 none, n > 1 for C_n (360/n deg), 0 continuous (any angle about +Y).
    distances: chamfer distance over the noise floor per transform, fraction of the diagonal."""

    rotation_order: int = 1
    mirror_left_right: bool = False
    mirror_front_back: bool = False
    distances: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return {0: "continuous", 1: "none"}.get(self.rotation_order, f"C{self.rotation_order}")

    @property
    def azimuth_ambiguous(self) -> bool:
        """True when some other azimuth gives the same picture (any rotational symmetry)."""
        return self.rotation_order != 1

    def to_dict(self) -> dict:
        return {**asdict(self), "label": self.label, "azimuth_ambiguous": self.azimuth_ambiguous}

    @classmethod
    def from_dict(cls, raw: dict) -> Symmetry:
        return cls(int(raw.get("rotation_order", 1)), bool(raw.get("mirror_left_right", False)),
                   bool(raw.get("mirror_front_back", False)), dict(raw.get("distances", {})))


NO_SYMMETRY = Symmetry()


def rotation_about_up(angle_deg: float | np.ndarray) -> np.ndarray:
    """Rotation matrices about +Y taking azimuth a to a + angle. Returns (..., 3, 3) float64."""
    a = np.radians(np.asarray(angle_deg, dtype=np.float64))
    c, s, zero, one = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    # azimuth is measured from +Z towards +X: x = sin(az), z = cos(az)
    return np.stack([np.stack([c, zero, s], -1), np.stack([zero, one, zero], -1),
                     np.stack([-s, zero, c], -1)], -2)


def surface_points(mesh: trimesh.Trimesh, count: int, seed: int) -> np.ndarray:
    """count points uniform in area on the mesh surface. Returns (count, 3) float64."""
    rng = np.random.default_rng(seed)
    areas = mesh.area_faces
    faces = rng.choice(len(areas), size=count, p=areas / areas.sum())
    u, v = rng.random((2, count))
    flip = u + v > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    tri = mesh.triangles[faces]
    return tri[:, 0] + u[:, None] * (tri[:, 1] - tri[:, 0]) + v[:, None] * (tri[:, 2] - tri[:, 0])


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric mean nearest-neighbour distance between point sets a (n, 3) and b (m, 3)."""
    return 0.5 * float(cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean())


def detect_symmetry(mesh: trimesh.Trimesh, count: int = 4000, tolerance: float = 0.006,
                    seed: int = 0) -> Symmetry:
    """Symmetries of a mesh in the canonical frame (centred, y up, unit diagonal) about the up axis
    through its bounding-box centre. tolerance: allowed excess chamfer distance, fraction of diagonal."""
    mesh = mesh.copy()
    mesh.apply_translation(-mesh.bounding_box.centroid)
    mesh.apply_scale(1.0 / max(float(np.linalg.norm(mesh.extents)), 1e-12))
    points, other = surface_points(mesh, count, seed), surface_points(mesh, count, seed + 1)
    floor = chamfer(points, other)

    def excess(matrix: np.ndarray) -> float:
        return max(chamfer(points @ matrix.T, other) - floor, 0.0)

    distances = {f"C{n}": excess(rotation_about_up(360.0 / n)) for n in ORDERS}
    distances.update({f"rot{a:g}": excess(rotation_about_up(a)) for a in CONTINUOUS_PROBES_DEG})
    distances["mirror_left_right"] = excess(np.diag([-1.0, 1.0, 1.0]))
    distances["mirror_front_back"] = excess(np.diag([1.0, 1.0, -1.0]))
    holds = {k: v <= tolerance for k, v in distances.items()}
    continuous = all(holds[f"rot{a:g}"] for a in CONTINUOUS_PROBES_DEG)
    orders = [n for n in ORDERS if holds[f"C{n}"] and all(holds[f"C{d}"] for d in ORDERS if n % d == 0)]
    order = 0 if continuous else max(orders, default=1)
    return Symmetry(order, holds["mirror_left_right"], holds["mirror_front_back"],
                    {k: round(v, 5) for k, v in distances.items()})


def scene_symmetry(scene: trimesh.Scene, **kwargs) -> Symmetry:
    """detect_symmetry of every mesh of a scene taken together (render.mesh.load_scene's output)."""
    meshes = [g for g in scene.dump() if isinstance(g, trimesh.Trimesh) and len(g.faces)]
    return detect_symmetry(trimesh.util.concatenate(meshes), **kwargs)


def equivalent_cameras(camera: np.ndarray, symmetry: Symmetry, continuous_steps: int = 72) -> np.ndarray:
    """The cameras giving the same picture as `camera` (3,): its images under the rotation group
    (continuous: `continuous_steps` azimuths). Returns (g, 3) float64, the camera itself first."""
    order = continuous_steps if symmetry.rotation_order == 0 else symmetry.rotation_order
    angles = 360.0 * np.arange(order) / order
    return rotation_about_up(angles) @ np.asarray(camera, dtype=np.float64)


def symmetric_angular_error_deg(c_true: np.ndarray, c_est: np.ndarray, symmetry: Symmetry) -> float:
    """min over cameras equivalent to c_est of the angular error to c_true (3,), degrees. For a
    continuous symmetry this is exactly the difference of polar angles."""
    if symmetry.rotation_order == 0:
        polar_true, _ = camera_to_angles(np.asarray(c_true, dtype=np.float64))
        polar_est, _ = camera_to_angles(np.asarray(c_est, dtype=np.float64))
        return float(abs(polar_true - polar_est))
    return float(angular_error_deg(c_true, equivalent_cameras(c_est, symmetry)).min())


def fold_cameras(cameras: np.ndarray, anchor: np.ndarray, symmetry: Symmetry) -> np.ndarray:
    """Each camera (k, 3) replaced by its equivalent closest to `anchor` (3,): symmetric views of one
    pose then vote together. Continuous: every camera keeps its polar angle at the anchor's azimuth."""
    cameras = np.asarray(cameras, dtype=np.float64)
    if symmetry.rotation_order == 1 or not len(cameras):
        return cameras
    if symmetry.rotation_order == 0:
        _, azimuths = camera_to_angles(cameras)
        _, anchor_azimuth = camera_to_angles(np.asarray(anchor, dtype=np.float64))
        return np.einsum("kij,kj->ki", rotation_about_up(anchor_azimuth - azimuths), cameras)
    rotations = rotation_about_up(360.0 * np.arange(symmetry.rotation_order) / symmetry.rotation_order)
    candidates = np.einsum("gij,kj->kgi", rotations, cameras)  # (k, g, 3)
    best = np.argmax(candidates @ np.asarray(anchor, dtype=np.float64), axis=1)
    return candidates[np.arange(len(cameras)), best]


def record_symmetry(record) -> Symmetry | None:
    """The symmetry stored in a model record's extra (index.store.ModelRecord), None if not detected."""
    raw = (record.extra or {}).get("symmetry")
    return Symmetry.from_dict(raw) if isinstance(raw, dict) else None


def model_symmetry(record) -> Symmetry:
    """Detect a stored model's symmetry from its CAD file, normalised as at indexing time.
    record: index.store.ModelRecord. Raises render.mesh.MeshError if the file cannot be loaded."""
    extra = record.extra or {}
    return scene_symmetry(load_scene(Path(record.file_path), extra.get("rotation"), extra.get("size")))


def fill_symmetries(store, symmetries: dict, persist: bool = True) -> int:
    """Detect the symmetry of every model of `store` (index.store.MetadataStore) missing from
    `symmetries` ({model id: Symmetry | None}, updated in place) and store it in the model's extra
    (skipped if the store is read-only). For indexes made before symmetry detection existed.
    Returns the number of models detected; a model whose mesh cannot be loaded stays None."""
    done = 0
    try:
        records = store.list_models()
    except sqlite3.Error as exc:  # closed meanwhile (service shutting down)
        log.info("symmetry detection skipped: %s", exc)
        return 0
    for record in records:
        if symmetries.get(record.model_id) is not None:
            continue
        try:
            symmetry = model_symmetry(record)
        except ValueError as exc:
            log.warning("%s: no symmetry (%s)", record.model_id, exc)
            continue
        symmetries[record.model_id] = symmetry
        done += 1
        if persist:
            try:
                store.update_extra(record.model_id, {"symmetry": symmetry.to_dict()})
            except (sqlite3.Error, ValueError) as exc:  # read-only index: keep it in memory only
                log.info("symmetry of %s kept in memory: %s", record.model_id, exc)
                persist = False
    return done
