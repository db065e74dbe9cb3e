"""Source: Sweet Home 3D's furniture from Debian packages (and users' .sh3f libraries), seats as OBJ + MTL."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from catalogue.entry import CatalogueEntry, CatalogueError, absolute_entry, replace_entry, safe_id
from catalogue.licences import library_licence, licence_name
from catalogue.seats import seat_kind
from catalogue.sh3d import default_materials, fix_obj_faces, fix_obj_materials, read_properties
from catalogue.source import Source

log = logging.getLogger(__name__)

FREE_PACKAGES = ("sweethome3d", "sweethome3d-furniture")
NONFREE_PACKAGES = ("sweethome3d-furniture-nonfree",)
JAR = "usr/share/sweethome3d/sweethome3d.jar"
JAR_PROPERTIES = "com/eteks/sweethome3d/io/DefaultFurnitureCatalog.properties"
JAR_OBJLOADER = "com/eteks/sweethome3d/j3d/OBJLoader.class"
PLUGIN_DIR = "usr/share/sweethome3d/furniture"
PLUGIN_PROPERTIES = "PluginFurnitureCatalog.properties"
ARCHIVE_MARKER = ".archive-sha256"


@dataclass
class _Item:
    """A catalogue entry before extraction: where its files are inside which archive."""

    entry: CatalogueEntry
    archive: Path
    model_member: str
    icon_member: str
    multipart: bool


def extract_seats(roots: dict[str, Path], out_dir: Path, progress: bool = True) -> list[CatalogueEntry]:
    """Extract every seat of the unpacked packages {package: root} into out_dir/models/<safe id>/;
    return the seats with paths relative to out_dir.

    Idempotent and resumable: a model dir appears by an atomic rename once complete and is not
    extracted again.
    """
    items = [i for i in read_items(roots) if i.entry.seat_kind is not None]
    defaults = builtin_materials(roots)
    extracted = (extract_entry(i, out_dir, defaults) for i in tqdm(items, desc="sweethome3d seats",
                                                                   disable=not progress))
    return [e for e in extracted if e is not None]


SOURCE = Source("sweethome3d", FREE_PACKAGES, extract_seats, NONFREE_PACKAGES)


def read_items(roots: dict[str, Path]) -> list[_Item]:
    """Every furniture entry (seats or not) of the jar's default catalogue and of the .sh3f libraries
    of the given unpacked packages {package: root}; entries with a duplicate id are dropped."""
    items, seen = [], set()
    for package, root in roots.items():
        for archive, props_member in _libraries(root):
            for item in library_items(package, root, archive, props_member):
                if item.entry.model_id in seen:
                    log.warning("duplicate catalogue id %s in %s: skipped", item.entry.model_id, archive)
                    continue
                seen.add(item.entry.model_id)
                items.append(item)
    return items


def _libraries(root: Path) -> list[tuple[Path, str]]:
    """(archive, properties member) of the catalogues a package holds."""
    found = [(root / JAR, JAR_PROPERTIES)] if (root / JAR).is_file() else []
    found += [(p, PLUGIN_PROPERTIES) for p in sorted((root / PLUGIN_DIR).glob("*.sh3f"))]
    return found


def library_items(package: str, root: Path, archive: Path, props_member: str) -> list[_Item]:
    try:
        with zipfile.ZipFile(archive) as zf:
            props = read_properties(zf.read(props_member))
    except (zipfile.BadZipFile, KeyError, OSError) as err:
        raise CatalogueError(f"cannot read {props_member} in {archive}: {err}") from err
    library = {"package": package, "archive": archive, "props": props,
               "licence": library_licence(root, package, archive.stem, props.get("license"))}
    numbers = sorted({int(m.group(1)) for k in props if (m := re.fullmatch(r"(?:name|model)#(\d+)", k))})
    return [item for n in numbers if (item := _item(library, n)) is not None]


def _item(library: dict, n: int) -> _Item | None:
    """The n-th entry of a library, or None (with a warning) when it is malformed."""
    props, archive = library["props"], library["archive"]
    get = lambda key: props.get(f"{key}#{n}", "").strip()
    try:
        if not get("name") or not get("model"):
            raise ValueError("no name or no model")
        size = tuple(_number(get(k), k) for k in ("width", "height", "depth"))
        values = [_number(v, "modelRotation") for v in get("modelRotation").split()]
        if values and len(values) != 9:
            raise ValueError(f"modelRotation has {len(values)} values, expected 9")
    except ValueError as err:
        log.warning("skipping entry #%d of %s: %s", n, archive.name, err)
        return None
    tags = [t.strip() for t in get("tags").split(",") if t.strip()]
    entry = CatalogueEntry(
        model_id=get("id") or _derived_id(props, archive, get("model")), name=get("name"),
        category=get("category"), seat_kind=seat_kind(get("name"), get("category"), tags),
        size_cm=size, rotation=[values[i:i + 3] for i in (0, 3, 6)] if values else None,
        creator=get("creator") or None,
        licence=licence_name(get("license")) if get("license") else library["licence"],
        source=f"{library['package']}/{archive.name}", model_path="", icon_path="", tags=tags)
    return _Item(entry, archive, get("model").lstrip("/"), get("icon").lstrip("/"),
                 get("multiPartModel").lower() == "true")


def _number(text: str, key: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{key} is {text!r}, not a number") from None


def _derived_id(props: dict[str, str], archive: Path, model: str) -> str:
    """Id of an entry without one: "<catalogue id or archive name>#<model path without extension>"."""
    return f"{props.get('id') or archive.stem}#{PurePosixPath(model.lstrip('/')).with_suffix('')}"


def builtin_materials(roots: dict[str, Path]) -> dict[str, str]:
    jar = roots.get("sweethome3d", Path("/nonexistent")) / JAR
    try:
        with zipfile.ZipFile(jar) as zf:
            return default_materials(zf.read(JAR_OBJLOADER))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        log.warning("no built-in materials from %s (%s): jar models will load without colours", jar, err)
        return {}


def extract_entry(item: _Item, out_dir: Path, defaults: dict[str, str]) -> CatalogueEntry | None:
    """Extract one entry's model (its whole folder for multi-part models) and icon; None if missing."""
    rel = f"models/{safe_id(item.entry.model_id)}"
    model_name = PurePosixPath(item.model_member).name
    icon_name = "icon" + PurePosixPath(item.icon_member).suffix
    dest = out_dir / rel
    if not (dest / model_name).is_file():
        try:
            _extract_to(item, dest, model_name, icon_name, defaults)
        except KeyError as err:
            log.warning("skipping %s: %s not in %s", item.entry.model_id, err, item.archive.name)
            return None
    return replace_entry(item.entry, model_path=f"{rel}/{model_name}", icon_path=f"{rel}/{icon_name}")


def _extract_to(item: _Item, dest: Path, model_name: str, icon_name: str,
                defaults: dict[str, str]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".extract-", dir=dest.parent) as tmp, \
            zipfile.ZipFile(item.archive) as zf:
        work = Path(tmp) / "model"
        folder = str(PurePosixPath(item.model_member).parent) + "/"
        members = [m for m in zf.namelist() if m.startswith(folder) and not m.endswith("/")] \
            if item.multipart else [item.model_member]
        if item.model_member not in members:
            raise KeyError(item.model_member)
        for member in members:
            _write_member(zf, member, work / PurePosixPath(member).relative_to(folder))
        _write_member(zf, item.icon_member, work / icon_name)
        missing = fix_obj_materials(work / model_name, defaults)
        if missing:
            log.warning("%s: materials %s defined nowhere", item.entry.model_id, missing)
        fix_obj_faces(work / model_name)
        if dest.exists():  # a dir without its model file is debris from by-hand work
            shutil.rmtree(dest)
        os.replace(work, dest)


def _write_member(zf: zipfile.ZipFile, member: str, target: Path) -> None:
    if ".." in PurePosixPath(member).parts:
        raise KeyError(f"{member} (unsafe path)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(zf.read(member))




def library_entries(archive: Path, extract_dir: Path, seat_kind: str | None = None,
                    packages_dir: Path | None = None) -> list[CatalogueEntry]:
    """The seats of a user's .sh3f library (every entry, as `seat_kind`, when given), extracted below
    extract_dir/<library>/models/. Re-extracted only when the archive's content changes."""
    archive = Path(archive).resolve()
    folder = Path(extract_dir) / safe_id(str(archive))
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    marker = folder / ARCHIVE_MARKER
    if folder.exists() and (not marker.is_file() or marker.read_text() != digest):
        shutil.rmtree(folder)  # changed library, or an extraction that was interrupted
    jar_package = Path(packages_dir) / "sweethome3d" if packages_dir else None
    defaults = builtin_materials({"sweethome3d": jar_package}) if jar_package and jar_package.is_dir() else {}
    entries = []
    for item in library_items("user", archive.parent, archive, PLUGIN_PROPERTIES):
        item.entry.seat_kind = seat_kind or item.entry.seat_kind
        if item.entry.seat_kind is None:
            log.info("%s: %s is not a seat, skipped", archive.name, item.entry.name)
            continue
        extracted = extract_entry(item, folder, defaults)
        entries += [absolute_entry(extracted, folder)] if extracted else []
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(digest)
    return entries
