"""Make the committed seat packs (catalogue/packs/<pack>/*.glb + manifest.json) from public repositories.

Run once by a maintainer, not at set-up (set-up reaches only the package registries). Each repository is
a bare git snapshot (the search tool's `fetch`) under --mirrors, as <owner>+<name>/repo[/.git]. FBX and
COLLADA files go through Debian's `assimp` (assimp-utils); glTF/GLB are read by trimesh. Textures are
shrunk to at most --texture-px and every model is written as one GLB in its source's own frame; the
manifest records the rotation that turns it into the canonical frame (up +Y, front +Z), checked on a
contact sheet (scripts/contact_sheet.py).

    python scripts/make_packs.py --mirrors /work/.mirror --out catalogue/packs
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import subprocess
import tempfile
from pathlib import Path, PurePosixPath

import trimesh
from packs_spec import PACKS  # the table of packs and their models, beside this script
from PIL import Image


def git_dir(mirrors: Path, repo: str) -> Path:
    base = mirrors / repo.replace("/", "+") / "repo"
    return base / ".git" if (base / ".git").is_dir() else base


def git(gdir: Path, *args: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={gdir}", *args], check=True, capture_output=True).stdout


def extract(gdir: Path, member: str, work: Path) -> Path:
    """Write HEAD:member and the files it refers to (glTF buffers/images, COLLADA and MTL textures)
    below `work`, keeping their relative paths; return the main file."""
    target = work / member
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(git(gdir, "show", f"HEAD:{member}"))
    for ref in references(target):
        path = PurePosixPath(member).parent / ref
        normalised = PurePosixPath(*_collapse(path.parts))
        out = work / str(normalised)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(git(gdir, "show", f"HEAD:{normalised}"))
    return target


def _collapse(parts: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for part in parts:
        if part == "..":
            out.pop()
        elif part != ".":
            out.append(part)
    return out


def references(path: Path) -> list[str]:
    suffix = path.suffix.lower()
    if suffix == ".gltf":
        doc = json.loads(path.read_text())
        return [i["uri"] for i in doc.get("buffers", []) + doc.get("images", []) if "uri" in i]
    if suffix == ".dae":
        return re.findall(r"<init_from>([^<]+\.(?:png|jpg|jpeg))</init_from>", path.read_text(), re.IGNORECASE)
    return []


def to_scene(source: Path) -> trimesh.Scene:
    """The source file as a trimesh scene; FBX and COLLADA are converted to glTF by assimp first."""
    if source.suffix.lower() in (".fbx", ".dae"):
        gltf = source.with_suffix(".assimp.gltf")
        subprocess.run(["assimp", "export", str(source), str(gltf), "-f", "gltf2"], check=True,
                       capture_output=True)
        tidy_gltf(gltf)
        source = gltf
    return trimesh.load_scene(str(source))


def tidy_gltf(gltf: Path) -> None:
    """Drop assimp's KHR_materials_pbrSpecularGlossiness copies of the colours (trimesh reads them
    instead of baseColorFactor and turns every FBX colour white) and embed image files as data URIs
    (trimesh does not follow assimp's "../materials/..." references)."""
    doc = json.loads(gltf.read_text())
    for image in doc.get("images", []):
        uri = image.get("uri", "")
        if uri and not uri.startswith("data:") and (gltf.parent / uri).is_file():
            data = base64.b64encode((gltf.parent / uri).read_bytes()).decode()
            image["uri"] = f"data:image/{Path(uri).suffix.lstrip('.').lower()};base64,{data}"
    for material in doc.get("materials", []):
        material.pop("extensions", None)
    for key in ("extensionsUsed", "extensionsRequired"):
        doc.pop(key, None)
    gltf.write_text(json.dumps(doc))


def shrink_textures(scene: trimesh.Scene, max_px: int) -> None:
    for geometry in scene.geometry.values():
        material = getattr(geometry.visual, "material", None)
        for attr in ("baseColorTexture", "image"):
            image = getattr(material, attr, None)
            if isinstance(image, Image.Image) and max(image.size) > max_px:
                image = image.copy()
                image.thumbnail((max_px, max_px))
                setattr(material, attr, image)
        for attr in ("normalTexture", "metallicRoughnessTexture", "occlusionTexture", "emissiveTexture"):
            if getattr(material, attr, None) is not None:
                setattr(material, attr, None)  # unused by the renderer's flat lighting: dropped


def make_pack(name: str, spec: dict, mirrors: Path, out: Path, texture_px: int) -> dict:
    gdir = git_dir(mirrors, spec["repository"])
    commit = git(gdir, "rev-parse", "HEAD").decode().strip()
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    models = []
    with tempfile.TemporaryDirectory() as tmp:
        for item in spec["models"]:
            scene = to_scene(extract(gdir, item["origin"], Path(tmp)))
            shrink_textures(scene, texture_px)
            file = f"{item['file']}.glb"
            (folder / file).write_bytes(scene.export(file_type="glb"))
            faces = sum(len(g.faces) for g in scene.geometry.values())
            models.append({**item, "file": file, "faces": faces, "bytes": (folder / file).stat().st_size})
            print(f"{name}/{file}: {faces} faces, {models[-1]['bytes'] // 1024} KiB", flush=True)
    manifest = {key: value for key, value in spec.items() if key != "models"}
    manifest.update(commit=commit, made_with=f"scripts/make_packs.py, {assimp_version()}, "
                    f"trimesh {trimesh.__version__}, textures <= {texture_px} px", models=models)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def assimp_version() -> str:
    text = subprocess.run(["assimp", "version"], capture_output=True, text=True).stdout
    match = re.search(r"Version\s+(\S+)", text)
    return f"assimp {match.group(1) if match else 'unknown'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("catalogue/packs"))
    parser.add_argument("--texture-px", type=int, default=256)
    parser.add_argument("--only", nargs="*", help="pack names (default: all)")
    args = parser.parse_args()
    for name, spec in PACKS.items():
        if not args.only or name in args.only:
            make_pack(name, spec, args.mirrors, args.out, args.texture_px)


if __name__ == "__main__":
    main()
