"""Swivel-chair training shapes: the seat and back of a chair put on an office chair's base.

Real office chairs in homes (light task chairs: a shell or a wooden seat on a gas column and a five-star
base with casters) were read as chairs: the chairs they resemble have legs, and the Infinigen office
chairs the network learnt from are mostly tall shells. Each shape made here keeps everything of a source
shape above its seat's underside and replaces the legs with a generated base, so the same seat appears
once as a chair (the source) and once as an office chair (this shape), and only the base tells them apart.

Source shapes: training_shapes/infinigen (chairs and armchairs; BSD-3-Clause generator, shapes made by this
project), already in the canonical frame (up +Y, front +Z, centred, unit diagonal). The base is built from
trimesh primitives with seeded random proportions: five arms (sometimes four), casters or glides, or a
round pedestal; a gas column; a tilt mechanism under the seat. The output is normalised back to the
canonical frame.

    .venv/bin/python tools/swivel/generate.py --out training_shapes/swivel [--chairs 110 --armchairs 0]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from trimesh.intersections import slice_faces_plane
from trimesh.visual.material import PBRMaterial

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script from the repository
from render.mesh import normalising_matrix  # noqa: E402
SOURCE = ROOT / "training_shapes" / "infinigen"
KIND = "office_chair"
SEED_BASE = 700000
BASE_COLOURS = {  # name -> (RGBA 0-255, metallic, roughness)
    "black": ((18, 18, 20, 255), 0.0, 0.6),
    "graphite": ((60, 62, 66, 255), 0.2, 0.5),
    "chrome": ((190, 192, 196, 255), 1.0, 0.2),
    "aluminium": ((160, 163, 168, 255), 0.8, 0.4),
    "white": ((232, 232, 228, 255), 0.0, 0.5),
}


class SwivelError(ValueError):
    """A source shape without a recognisable seat."""


@dataclass(frozen=True)
class Seat:
    """Where the seat is, in the source's frame (units of its unit diagonal): top and underside heights,
    the floor, and the seat's centre and half extents in the ground plane (x, z)."""

    top_y: float
    under_y: float
    floor_y: float
    centre_xz: tuple[float, float]
    half_xz: tuple[float, float]


def find_seat(mesh: trimesh.Trimesh, bin_size: float = 0.01) -> Seat:
    """The seat: the height with the most upward-facing area between 15 % and 70 % of the height, and its
    underside: the most downward-facing area within 15 % of the height below it (else 4 % below the top)."""
    low, high = mesh.bounds
    height = high[1] - low[1]
    normals, areas, centres = mesh.face_normals, mesh.area_faces, mesh.triangles_center
    bins = np.arange(low[1], high[1] + bin_size, bin_size)
    up = normals[:, 1] > 0.85
    hist, _ = np.histogram(centres[up, 1], bins, weights=areas[up])
    mids = (bins[:-1] + bins[1:]) / 2
    band = (mids > low[1] + 0.15 * height) & (mids < low[1] + 0.70 * height)
    if not band.any() or hist[band].max() <= 0:
        raise SwivelError("no upward-facing seat surface")
    top = float(mids[band][np.argmax(hist[band])])
    down = normals[:, 1] < -0.85
    hist_down, _ = np.histogram(centres[down, 1], bins, weights=areas[down])
    below = (mids < top) & (mids > top - 0.15 * height)
    under = float(mids[below][np.argmax(hist_down[below])]) if below.any() and hist_down[below].max() > 0 \
        else top - 0.04 * height
    seat = up & (np.abs(centres[:, 1] - top) < 2 * bin_size)
    centre = tuple(float(v) for v in np.average(centres[seat][:, [0, 2]], axis=0, weights=areas[seat]))
    corners = mesh.vertices[mesh.faces[seat]].reshape(-1, 3)[:, [0, 2]]
    half = tuple(float(v) for v in np.ptp(corners, axis=0) / 2)
    return Seat(top, under, float(low[1]), centre, half)


def upper_part(scene: trimesh.Scene, cut_y: float) -> list[trimesh.Trimesh]:
    """Every geometry of scene (in world coordinates, materials kept) sliced at height cut_y, the part
    above kept; geometries wholly below are dropped."""
    parts = []
    for geometry in scene.dump():
        if geometry.bounds[1][1] <= cut_y:
            continue
        if geometry.bounds[0][1] < cut_y:
            # slice_faces_plane: Mesh.slice_plane would need shapely, which the service does not install.
            vertices, faces = slice_faces_plane(geometry.vertices, geometry.faces, [0.0, 1.0, 0.0],
                                                [0.0, cut_y, 0.0])[:2]
            geometry = trimesh.Trimesh(vertices, faces, visual=trimesh.visual.TextureVisuals(
                material=getattr(geometry.visual, "material", None)), process=False)
        if len(geometry.faces):
            parts.append(geometry)
    return parts


def _material(colour: str) -> PBRMaterial:
    rgba, metallic, roughness = BASE_COLOURS[colour]
    return PBRMaterial(name=f"base_{colour}", baseColorFactor=rgba, metallicFactor=metallic,
                       roughnessFactor=roughness)


def _placed(mesh: trimesh.Trimesh, translation, rotation_y: float = 0.0) -> trimesh.Trimesh:
    mesh.apply_transform(trimesh.transformations.rotation_matrix(rotation_y, [0, 1, 0]))
    mesh.apply_translation(translation)
    return mesh


def _cylinder(radius: float, height: float, sections: int = 16) -> trimesh.Trimesh:
    """A vertical cylinder (axis +Y) centred at the origin."""
    cylinder = trimesh.creation.cylinder(radius=radius, height=height, sections=sections)
    cylinder.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    return cylinder


def office_base(seat: Seat, height: float, rng: np.random.Generator) -> tuple[list[trimesh.Trimesh], dict]:
    """The base from the floor to the seat's underside: (meshes, the recipe drawn). height: the source's."""
    cx, cz = seat.centre_xz
    floor, top = seat.floor_y, seat.under_y
    style = rng.choice(["star_casters", "star_glides", "pedestal"], p=[0.7, 0.15, 0.15])
    arms = int(rng.choice([5, 4], p=[0.85, 0.15])) if style != "pedestal" else 0
    radius = float(rng.uniform(0.6, 0.75) * 2 * max(seat.half_xz))  # a base ~1.2-1.5 x the seat's width
    column_r = float(rng.uniform(0.018, 0.03) * height)
    wheel_r = float(rng.uniform(0.022, 0.035) * height) if style == "star_casters" else 0.0
    hub_y = floor + (2 * wheel_r + 0.03 * height if style == "star_casters" else 0.02 * height)
    meshes = []
    column_low = hub_y
    if style == "pedestal":
        disc_h = 0.015 * height
        meshes.append(_placed(_cylinder(radius * 0.75, disc_h, 32), [cx, floor + disc_h / 2, cz]))
        cone = trimesh.creation.cone(radius=radius * 0.3, height=0.08 * height, sections=24)
        cone.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
        meshes.append(_placed(cone, [cx, floor + disc_h, cz]))
        column_low = floor + disc_h
    else:
        phase = float(rng.uniform(0, 2 * np.pi))
        arm_w, arm_t = 0.04 * height, 0.025 * height
        meshes.append(_placed(_cylinder(0.05 * height, 0.045 * height), [cx, hub_y, cz]))
        for k in range(arms):
            angle = phase + 2 * np.pi * k / arms
            arm = trimesh.creation.box([radius, arm_t, arm_w])
            arm.apply_translation([radius / 2, 0, 0])
            meshes.append(_placed(arm, [cx, hub_y, cz], angle))
            end = np.array([cx + radius * np.cos(angle), 0.0, cz - radius * np.sin(angle)])
            if style == "star_casters":
                wheel = trimesh.creation.cylinder(radius=wheel_r, height=wheel_r * 1.2, sections=12)
                meshes.append(_placed(wheel, [end[0], floor + wheel_r, end[2]], angle))
                meshes.append(_placed(_cylinder(wheel_r * 0.35, hub_y - floor - wheel_r),
                                      [end[0], (hub_y + floor + wheel_r) / 2, end[2]]))
            else:
                meshes.append(_placed(_cylinder(arm_w * 0.5, hub_y - floor), [end[0], (hub_y + floor) / 2, end[2]]))
    column_top = top - 0.03 * height
    if column_top > column_low:
        meshes.append(_placed(_cylinder(column_r, column_top - column_low), [cx, (column_top + column_low) / 2, cz]))
        shroud = 0.45 * (column_top - column_low)
        meshes.append(_placed(_cylinder(column_r * 1.5, shroud), [cx, column_low + shroud / 2, cz]))
    plate = trimesh.creation.box([seat.half_xz[0] * 0.8, 0.03 * height, seat.half_xz[1] * 0.8])
    meshes.append(_placed(plate, [cx, top - 0.015 * height, cz]))
    recipe = {"style": str(style), "arms": arms, "radius": round(radius, 4), "column_r": round(column_r, 4),
              "wheel_r": round(wheel_r, 4)}
    return meshes, recipe


def swivel_chair(source: Path, seed: int) -> tuple[trimesh.Scene, dict]:
    """The source shape's seat and back on a generated base, in the canonical frame; (scene, recipe)."""
    rng = np.random.default_rng(seed)
    scene = trimesh.load(source, force="scene")
    whole = scene.to_geometry()
    seat = find_seat(whole)
    height = float(whole.bounds[1][1] - whole.bounds[0][1])
    cut = seat.under_y - 0.005 * height
    upper = upper_part(scene, cut)
    if not upper:
        raise SwivelError("nothing above the seat")
    base, recipe = office_base(seat, height, rng)
    colour = str(rng.choice(list(BASE_COLOURS)))
    material = _material(colour)
    for mesh in base:
        mesh.visual = trimesh.visual.TextureVisuals(material=material)
    out = trimesh.Scene()
    for i, mesh in enumerate(upper):
        out.add_geometry(mesh, geom_name=f"seat_{i}")
    out.add_geometry(trimesh.util.concatenate(base), geom_name=f"base_{colour}")
    _normalise(out)
    recipe.update(colour=colour, seat_top=round(seat.top_y, 4), cut=round(cut, 4))
    return out, recipe


def _normalise(scene: trimesh.Scene) -> None:
    """Centre the bounding box at the origin and scale it to a unit diagonal (the shape sets' frame), in
    the geometries themselves (the scene's nodes stay identities)."""
    matrix = normalising_matrix(list(scene.geometry.values()))
    for geometry in scene.geometry.values():
        geometry.apply_transform(matrix)


def plan(manifest: dict, chairs: int, armchairs: int) -> list[dict]:
    """The source shapes used: the first `chairs` chairs and `armchairs` armchairs of the Infinigen set."""
    by_kind = {"chair": chairs, "armchair": armchairs}
    chosen = []
    for kind, count in by_kind.items():
        chosen += [s for s in manifest["shapes"] if s["kind"] == kind][:count]
    return chosen


def _count(text: str) -> int:
    """argparse type: a whole number of shapes, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number, 0 or more, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--chairs", type=_count, default=110)
    parser.add_argument("--armchairs", type=_count, default=0, help="also this many Infinigen armchairs (not used: "
                        "their bodies reach nearly to the floor, so the base hardly shows)")
    args = parser.parse_args(argv)
    source_manifest = json.loads((SOURCE / "manifest.json").read_text())
    (args.out / KIND).mkdir(parents=True, exist_ok=True)
    shapes, skipped = [], []
    for i, source in enumerate(plan(source_manifest, args.chairs, args.armchairs)):
        seed = SEED_BASE + i
        try:
            scene, recipe = swivel_chair(SOURCE / source["file"], seed)
        except SwivelError as exc:
            skipped.append({"source": source["file"], "why": str(exc)})
            continue
        name = f"{KIND}/swivel_{seed}.glb"
        data = scene.export(file_type="glb")
        (args.out / name).write_bytes(data)
        faces = sum(len(g.faces) for g in scene.geometry.values())
        shapes.append({"file": name, "kind": KIND, "seed": seed, "source": f"infinigen/{source['file']}",
                       "faces": faces, "recipe": recipe, "sha256": hashlib.sha256(data).hexdigest()})
        print(f"{name} <- {source['file']} {recipe['style']}", flush=True)
    manifest = {"generator": "swivel", "licence": "Derived from training_shapes/infinigen (see its manifest: "
                "Infinigen, BSD-3-Clause; shapes made by the photo2cad project); bases generated by "
                "tools/swivel/generate.py. Same terms as the source shapes.",
                "frame": source_manifest["frame"], "command": "python tools/swivel/generate.py --out "
                f"{args.out} --chairs {args.chairs} --armchairs {args.armchairs}",
                "shapes": shapes, "skipped": skipped}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(shapes)} shapes, {len(skipped)} skipped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
