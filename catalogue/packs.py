"""Source: seat packs committed to the repository (catalogue/packs/<pack>/*.glb and manifest.json).

They come from public repositories that set-up cannot reach; scripts/make_packs.py made them and the
manifest says where each model comes from (repository, commit, path), its licence, creator, seat kind
and the rotation into the canonical frame (up +Y, front +Z). Adding a pack is adding its folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from catalogue.entry import CatalogueEntry, CatalogueError, safe_id
from catalogue.seats import SEAT_KINDS
from catalogue.source import Source

PACKS_DIR = Path(__file__).resolve().parent / "packs"
MANIFEST = "manifest.json"
REQUIRED = ("repository", "commit", "licence", "creator", "models")
REQUIRED_MODEL = ("file", "origin", "name", "seat_kind")


def read_manifests(packs_dir: Path = PACKS_DIR) -> dict[str, dict]:
    """{pack name: its checked manifest} for every pack folder. Raises CatalogueError on a manifest
    without licence, creator or origin, or with an unknown seat kind or a missing file."""
    manifests = {}
    for path in sorted(Path(packs_dir).glob(f"*/{MANIFEST}")):
        try:
            manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise CatalogueError(f"cannot read {path}: {err}") from err
        check_manifest(manifest, path.parent)
        manifests[path.parent.name] = manifest
    return manifests


def check_manifest(manifest: dict, folder: Path) -> None:
    missing = [key for key in REQUIRED if not manifest.get(key)]
    if missing:
        raise CatalogueError(f"{folder / MANIFEST} lacks {', '.join(missing)}")
    for model in manifest["models"]:
        lacking = [key for key in REQUIRED_MODEL if not model.get(key)]
        if lacking:
            raise CatalogueError(f"{folder / MANIFEST}: model {model} lacks {', '.join(lacking)}")
        if model["seat_kind"] not in SEAT_KINDS:
            raise CatalogueError(f"{folder / MANIFEST}: {model['file']} has unknown seat kind "
                                 f"{model['seat_kind']!r}")
        if not (folder / model["file"]).is_file():
            raise CatalogueError(f"{folder / MANIFEST} names {model['file']}, which is not there")


def pack_entries(packs_dir: Path = PACKS_DIR) -> list[tuple[CatalogueEntry, Path]]:
    """(entry with model_path = file name only, the GLB in the pack) for every model of every pack."""
    pairs = []
    for pack, manifest in read_manifests(packs_dir).items():
        for model in manifest["models"]:
            pairs.append((_entry(pack, manifest, model), Path(packs_dir) / pack / model["file"]))
    return pairs


def _entry(pack: str, manifest: dict, model: dict) -> CatalogueEntry:
    repository, commit = manifest["repository"], manifest["commit"]
    return CatalogueEntry(
        model_id=f"{pack}#{Path(model['file']).stem}", name=model["name"], category="",
        seat_kind=model["seat_kind"], size_cm=None, rotation=model.get("rotation") or manifest.get("rotation"),
        creator=model.get("creator") or manifest["creator"], licence=model.get("licence") or manifest["licence"],
        source=f"github.com/{repository}/blob/{commit[:12]}/{model['origin']}", model_path=model["file"],
        icon_path="", tags=[pack])


def pack_seats(roots: dict[str, Path], out_dir: Path, progress: bool = True,
               packs_dir: Path = PACKS_DIR) -> list[CatalogueEntry]:
    """Copy every pack model into out_dir/models/<safe id>/ (once; a changed GLB is copied again) and
    return the entries with paths relative to out_dir. `roots` is unused: packs need no package."""
    entries = []
    for entry, glb in pack_entries(packs_dir):
        rel = f"models/{safe_id(entry.model_id)}/{glb.name}"
        _copy_if_changed(glb, Path(out_dir) / rel)
        entry.model_path = rel
        entries.append(entry)
    return entries


def _copy_if_changed(src: Path, dest: Path) -> None:
    if dest.is_file() and dest.stat().st_size == src.stat().st_size and dest.read_bytes() == src.read_bytes():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


SOURCE = Source("packs", (), pack_seats)
