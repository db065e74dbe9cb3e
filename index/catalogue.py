"""The seat catalogue: Sweet Home 3D's furniture from Debian packages, seats extracted as OBJ + MTL."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from index.licences import library_licence, licence_name
from index.seats import seat_kind
from index.sh3d import default_materials, fix_obj_faces, fix_obj_materials, read_properties
from render.debian import MARKER, fetch_deb

log = logging.getLogger(__name__)

FREE_PACKAGES = ("sweethome3d", "sweethome3d-furniture")
NONFREE_PACKAGES = ("sweethome3d-furniture-nonfree",)
JAR = "usr/share/sweethome3d/sweethome3d.jar"
JAR_PROPERTIES = "com/eteks/sweethome3d/io/DefaultFurnitureCatalog.properties"
JAR_OBJLOADER = "com/eteks/sweethome3d/j3d/OBJLoader.class"
PLUGIN_DIR = "usr/share/sweethome3d/furniture"
PLUGIN_PROPERTIES = "PluginFurnitureCatalog.properties"
CATALOGUE_FILE = "catalogue.json"
FORMAT_VERSION = 1


class CatalogueError(ValueError):
    """The packages or the catalogue on disk are missing or unreadable."""


@dataclass
class CatalogueEntry:
    """One seat of the catalogue. size_cm is (width, height, depth) in cm as the catalogue states it;
    rotation is the catalogue's modelRotation as 3 rows of 3 floats (v' = R @ v), or None. model_path
    and icon_path are absolute once loaded (relative to the catalogue dir inside catalogue.json)."""

    model_id: str
    name: str
    category: str
    seat_kind: str | None
    size_cm: tuple[float, float, float]
    rotation: list[list[float]] | None
    creator: str | None
    licence: str
    source: str
    model_path: str
    icon_path: str
    tags: list[str] = field(default_factory=list)


@dataclass
class _Item:
    """A catalogue entry before extraction: where its files are inside which archive."""

    entry: CatalogueEntry
    archive: Path
    model_member: str
    icon_member: str
    multipart: bool


def build_catalogue(packages_dir: Path, out_dir: Path, include_nonfree: bool = False,
                    progress: bool = True) -> list[CatalogueEntry]:
    """Fetch the packages (unless packages_dir/<package> exists), extract every seat's model files
    into out_dir/models/<safe id>/ and write out_dir/catalogue.json; return the seats.

    Idempotent and resumable: a model dir appears by an atomic rename once complete and is not
    extracted again; catalogue.json is replaced atomically at the end.
    """
    packages_dir, out_dir = Path(packages_dir), Path(out_dir)
    packages = FREE_PACKAGES + (NONFREE_PACKAGES if include_nonfree else ())
    roots = {p: _package_root(p, packages_dir) for p in packages}
    items = [i for i in read_items(roots) if i.entry.seat_kind is not None]
    defaults = builtin_materials(roots)
    extracted = (extract_entry(i, out_dir, defaults) for i in tqdm(items, desc="seats", disable=not progress))
    entries = [e for e in extracted if e is not None]
    _write_json(out_dir, entries, roots, include_nonfree)
    return [absolute_entry(e, out_dir) for e in entries]


def load_catalogue(out_dir: Path) -> list[CatalogueEntry]:
    """The seats written by build_catalogue, with absolute model and icon paths."""
    path = Path(out_dir) / CATALOGUE_FILE
    if not path.is_file():
        raise CatalogueError(f"no {CATALOGUE_FILE} in {out_dir}: run build_catalogue first")
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT_VERSION:
        raise CatalogueError(f"{path} has format {data.get('format')}, expected {FORMAT_VERSION}")
    return [absolute_entry(_entry(row), Path(out_dir)) for row in data["entries"]]


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


def verify_models(entries: list[CatalogueEntry]) -> dict[str, str]:
    """Load every model with trimesh as a scene; return {model_id: why it failed} (empty if all load)."""
    import trimesh  # heavy import kept out of catalogue reading

    failures = {}
    for entry in entries:
        try:
            scene = trimesh.load(entry.model_path, force="scene")
            if not scene.geometry or sum(len(g.faces) for g in scene.geometry.values()) == 0:
                failures[entry.model_id] = "no faces"
        except Exception as err:  # any loader failure is reported, not raised
            failures[entry.model_id] = f"{type(err).__name__}: {err}"
    return failures


def safe_id(model_id: str) -> str:
    """A directory name for a catalogue id: readable part plus a hash that keeps it unique."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._")[:60]
    return f"{slug}-{hashlib.sha1(model_id.encode()).hexdigest()[:8]}"


def _package_root(package: str, packages_dir: Path) -> Path:
    """packages_dir/package as it is (e.g. laid out by hand), otherwise fetched with apt."""
    root = packages_dir / package
    return root if root.is_dir() else fetch_deb(package, packages_dir)


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
    return _replace(item.entry, model_path=f"{rel}/{model_name}", icon_path=f"{rel}/{icon_name}")


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


def _write_json(out_dir: Path, entries: list[CatalogueEntry], roots: dict[str, Path],
                include_nonfree: bool) -> None:
    packages = {p: json.loads((r / MARKER).read_text()) if (r / MARKER).is_file() else {"path": str(r)}
                for p, r in roots.items()}
    data = {"format": FORMAT_VERSION, "include_nonfree": include_nonfree, "packages": packages,
            "entries": [asdict(e) for e in entries]}
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{CATALOGUE_FILE}.tmp"
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    os.replace(tmp, out_dir / CATALOGUE_FILE)


def _entry(row: dict) -> CatalogueEntry:
    return CatalogueEntry(**{**row, "size_cm": tuple(row["size_cm"])})


def _replace(entry: CatalogueEntry, **changes) -> CatalogueEntry:
    return CatalogueEntry(**{**asdict(entry), **changes})


def absolute_entry(entry: CatalogueEntry, out_dir: Path) -> CatalogueEntry:
    return _replace(entry, model_path=str(out_dir.resolve() / entry.model_path),
                    icon_path=str(out_dir.resolve() / entry.icon_path))
