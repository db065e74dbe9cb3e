"""What to index from user paths: walking folders, model ids from file names, Sweet Home 3D .sh3f libraries.

A folder is walked recursively (hidden entries skipped) for CAD files; companions (MTL, textures, glTF
buffers) are not models of their own but are part of their model's content hash. A .sh3f library is
extracted (once per library content) into a folder under the index and each of its seats becomes a source.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from catalogue.entry import CatalogueEntry

# A user's .sh3f library goes through the same steps as the default catalogue's libraries.
from catalogue.sweethome3d import library_entries
from index.build import ModelSource

log = logging.getLogger(__name__)
CAD_SUFFIXES = (".obj", ".glb", ".gltf", ".stl", ".ply", ".off", ".3mf")
LIBRARY_SUFFIX = ".sh3f"
ID_FROM = ("name", "path")


class SourceError(ValueError):
    """A path given to index cannot be turned into models (missing, unsupported, id collision)."""


@dataclass
class FoundFile:
    """A file to index and the folder it was found under (its own folder for a file given directly)."""

    path: Path
    root: Path


@dataclass
class Sources:
    """Models to index, and (model id or path, reason) for what could not become one."""

    models: list[ModelSource] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def find_files(paths: Sequence[Path]) -> list[FoundFile]:
    """CAD files and .sh3f libraries among `paths` (files as given, folders walked), each once, in order.
    Raises FileNotFoundError when a path does not exist."""
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    found: dict[Path, FoundFile] = {}
    for path in map(Path, paths):
        files = _walk(path) if path.is_dir() else [path]
        root = path if path.is_dir() else path.parent
        for file in files:
            found.setdefault(file.resolve(), FoundFile(file, root))
    return list(found.values())


def _walk(folder: Path) -> list[Path]:
    files = []
    for parent, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files += [Path(parent) / n for n in sorted(names)
                  if not n.startswith(".") and Path(n).suffix.lower() in (*CAD_SUFFIXES, LIBRARY_SUFFIX)]
    return files


def model_id_for(found: FoundFile, id_from: str = "name") -> str:
    """"name": the file name without extension; "path": the path below the walked folder without
    extension, '/'-separated (so a/chair.obj and b/chair.obj stay apart)."""
    if id_from not in ID_FROM:
        raise SourceError(f"--id-from must be one of {', '.join(ID_FROM)}, got {id_from!r}")
    if id_from == "name":
        return found.path.stem
    return found.path.relative_to(found.root).with_suffix("").as_posix()


def user_sources(paths: Sequence[Path], extract_dir: Path, id_from: str = "name", model_id: str | None = None,
                 name: str | None = None, seat_kind: str | None = None, licence: str | None = None,
                 creator: str | None = None, packages_dir: Path | None = None) -> Sources:
    """Sources for every CAD file and library seat under `paths`. Files whose ids collide all fail
    with a reason (never one silently replacing another). extract_dir receives extracted libraries;
    packages_dir may hold Sweet Home 3D's package for its built-in OBJ materials."""
    found = find_files(paths)
    if model_id and len(found) != 1:
        raise SourceError(f"--id names one model, but {len(found)} files were found: give a single file")
    result = Sources()
    for item in found:
        if item.path.suffix.lower() == LIBRARY_SUFFIX:
            _add_library(result, item.path, extract_dir, seat_kind, licence, packages_dir)
            continue
        if item.path.suffix.lower() not in CAD_SUFFIXES:
            expected = ", ".join(CAD_SUFFIXES + (LIBRARY_SUFFIX,))
            reason = f"unsupported file type {item.path.suffix!r}; expected one of {expected}"
            result.failed.append((str(item.path), reason))
            continue
        result.models.append(ModelSource(model_id or model_id_for(item, id_from), item.path.resolve(),
                                         name or item.path.stem, seat_kind, licence=licence, creator=creator,
                                         source="user"))
    return _without_collisions(result)


def _add_library(result: Sources, archive: Path, extract_dir: Path, seat_kind: str | None,
                 licence: str | None, packages_dir: Path | None) -> None:
    try:
        entries = library_entries(archive, extract_dir, seat_kind, packages_dir)
    except (ValueError, OSError) as exc:
        result.failed.append((str(archive), f"cannot read the library: {exc}"))
        return
    for entry in entries:
        source = source_from_entry(entry)
        source.licence = licence or source.licence
        result.models.append(source)


def _without_collisions(result: Sources) -> Sources:
    by_id: dict[str, list[ModelSource]] = defaultdict(list)
    for source in result.models:
        by_id[source.model_id].append(source)
    kept = Sources(failed=list(result.failed))
    for model_id, sources in by_id.items():
        if len(sources) == 1:
            kept.models.append(sources[0])
            continue
        files = ", ".join(str(s.path) for s in sources)
        reason = f"model id {model_id!r} would be made from several files ({files}): use --id-from path"
        kept.failed += [(str(s.path), reason) for s in sources]
    return kept


def source_from_entry(entry: CatalogueEntry) -> ModelSource:
    """The indexing source of a catalogue entry (size in cm and modelRotation applied when rendering)."""
    return ModelSource(
        model_id=entry.model_id, path=Path(entry.model_path), name=entry.name, seat_kind=entry.seat_kind,
        category=entry.category, licence=entry.licence, creator=entry.creator, source=entry.source,
        rotation=entry.rotation, size=tuple(entry.size_cm) if entry.size_cm else None,
        extra={"icon_path": str(entry.icon_path) if entry.icon_path else None, "tags": entry.tags},
    )
