"""Loading CAD files into a validated trimesh scene in the canonical frame (centred, unit diagonal)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import trimesh

MESH_EXTENSIONS = ("obj", "glb", "gltf", "stl", "ply", "off", "3mf")
MAX_COORDINATE = 1e7
# Longest / second-longest extent above this means a line, not an object (a flat rug is fine).
MAX_EXTENT_RATIO = 1e6


class MeshError(ValueError):
    """A CAD file that cannot be loaded or is not a usable mesh."""


def load_scene(
    path: Path,
    rotation: np.ndarray | None = None,
    size: tuple[float, float, float] | None = None,
) -> trimesh.Scene:
    """Load a CAD file into a flat trimesh.Scene in the canonical frame, materials kept.

    rotation: 3x3 row-major matrix (Sweet Home 3D's modelRotation), applied as v' = R @ v.
    size: (width, height, depth) of the bounding box along x, y, z after rotation, any unit.
    Afterwards the bounding-box centre is at the origin and its diagonal is 1 (unitless), so every
    vertex lies within radius 0.5. Scene-graph transforms are baked: every node is the identity.
    Raises MeshError with a one-line reason.
    """
    meshes = _read_meshes(Path(path))
    _check_vertices(meshes)
    if rotation is not None:
        _transform(meshes, _rotation_matrix(rotation))
    if size is not None:
        _transform(meshes, np.diag([*_size_scale(meshes, size), 1.0]))
    _transform(meshes, normalising_matrix(meshes))
    _check_area(meshes)
    return trimesh.Scene(meshes)


def _read_meshes(path: Path) -> list[trimesh.Trimesh]:
    """Every triangle mesh of the file, moved to its scene-graph position."""
    ext = path.suffix.lower().lstrip(".")
    if ext not in MESH_EXTENSIONS:
        expected = ", ".join(MESH_EXTENSIONS)
        raise MeshError(f"unsupported file type {path.suffix!r} for {path.name}; expected one of {expected}")
    if not path.is_file():
        raise MeshError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise MeshError(f"file is empty: {path.name}")
    try:
        # process=False keeps NaN vertices and degenerate faces visible to the checks below.
        scene = trimesh.load_scene(str(path), file_type=ext, process=False)
        dumped = scene.dump()
    except Exception as exc:  # trimesh raises many exception types for malformed files
        raise MeshError(f"cannot read {path.name} as {ext}: {type(exc).__name__}: {exc}") from exc
    meshes = [g for g in dumped if isinstance(g, trimesh.Trimesh) and len(g.faces) > 0]
    if not meshes:
        raise MeshError(f"no triangle geometry in {path.name}")
    return meshes


def _check_vertices(meshes: list[trimesh.Trimesh]) -> None:
    vertices = np.concatenate([m.vertices for m in meshes])
    if not np.all(np.isfinite(vertices)):
        raise MeshError("mesh has NaN or infinite vertex coordinates")
    if np.abs(vertices).max() > MAX_COORDINATE:
        raise MeshError(f"mesh coordinates exceed {MAX_COORDINATE:g}; absurd size")
    extents = np.sort(vertices.max(axis=0) - vertices.min(axis=0))
    if extents[2] == 0 or extents[1] * MAX_EXTENT_RATIO < extents[2]:
        raise MeshError(f"degenerate bounding box with extents {extents.tolist()}")


def _check_area(meshes: list[trimesh.Trimesh]) -> None:
    # Called in the unit-diagonal frame, so the threshold is relative to the object's size.
    area = sum(float(m.area) for m in meshes)
    if not area > 1e-9:
        raise MeshError(f"mesh has zero surface area ({area:.3g} in the unit-diagonal frame)")


def _rotation_matrix(rotation: np.ndarray) -> np.ndarray:
    r = np.asarray(rotation, dtype=np.float64)
    if r.shape != (3, 3) or not np.all(np.isfinite(r)) or abs(np.linalg.det(r)) < 1e-9:
        raise MeshError(f"rotation must be an invertible finite 3x3 matrix, got {r.tolist()}")
    matrix = np.eye(4)
    matrix[:3, :3] = r
    return matrix


def _size_scale(meshes: list[trimesh.Trimesh], size: tuple[float, float, float]) -> np.ndarray:
    """Per-axis scale factors (3,) that make the bounding box measure `size`."""
    target = np.asarray(size, dtype=np.float64)
    if target.shape != (3,) or not np.all(np.isfinite(target)) or np.any(target <= 0):
        raise MeshError(f"size must be three positive numbers (width, height, depth), got {size}")
    low, high = _bounds(meshes)
    extents = high - low
    # A flat axis stays flat whatever the scale; 1 avoids dividing by zero.
    return np.where(extents > 0, target / np.where(extents > 0, extents, 1.0), 1.0)


def normalising_matrix(meshes: list[trimesh.Trimesh]) -> np.ndarray:
    """4x4 transform putting the meshes' joint bounding-box centre at the origin with a unit diagonal."""
    low, high = _bounds(meshes)
    scale = 1.0 / np.linalg.norm(high - low)
    matrix = np.diag([scale, scale, scale, 1.0])
    matrix[:3, 3] = -scale * (low + high) / 2
    return matrix


def _bounds(meshes: list[trimesh.Trimesh]) -> tuple[np.ndarray, np.ndarray]:
    vertices = np.concatenate([m.vertices for m in meshes])
    return vertices.min(axis=0), vertices.max(axis=0)


def _transform(meshes: list[trimesh.Trimesh], matrix: np.ndarray) -> None:
    for mesh in meshes:
        mesh.apply_transform(matrix)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a CAD file together with its companion files (OBJ: MTL files and the textures
    they name; glTF: external buffers and images), so editing a texture changes the hash.
    Missing companions are hashed by name only."""
    path = Path(path)
    digest = hashlib.sha256()
    for file in [path, *companion_files(path)]:
        digest.update(file.name.encode() + b"\0")
        if file.is_file():
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def companion_files(path: Path) -> list[Path]:
    """Files an OBJ or glTF file refers to, in reference order, without duplicates."""
    ext = path.suffix.lower()
    if ext == ".obj":
        names = _referenced_names(path, r"mtllib")
        mtls = [path.parent / n for n in names]
        textures = [m.parent / t for m in mtls if m.is_file() for t in _referenced_names(m, _MTL_MAPS)]
        return list(dict.fromkeys(mtls + textures))
    if ext == ".gltf":
        return _gltf_uris(path)
    return []


_MTL_MAPS = r"map_\w+|bump|disp|decal|refl|norm"


def _referenced_names(path: Path, keyword: str) -> list[str]:
    """File names after `keyword` lines; the name is the last token (options like -s 1 1 1 come first)."""
    pattern = re.compile(rf"^\s*(?:{keyword})\s+(.+?)\s*$", re.IGNORECASE)
    text = path.read_text(errors="replace")
    matches = (pattern.match(line) for line in text.splitlines())
    return [m.group(1).split()[-1] for m in matches if m]


def _gltf_uris(path: Path) -> list[Path]:
    try:
        document = json.loads(path.read_text(errors="replace"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    items = [*document.get("buffers", []), *document.get("images", [])]
    uris = [item.get("uri", "") for item in items if isinstance(item, dict)]
    return [path.parent / u for u in uris if u and not u.startswith("data:")]
