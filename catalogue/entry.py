"""One seat of the catalogue as every source describes it, and the helpers all sources share."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path


class CatalogueError(ValueError):
    """The packages, the packs or the catalogue on disk are missing or unreadable."""


@dataclass
class CatalogueEntry:
    """One seat of the catalogue. size_cm is (width, height, depth) in cm as the source states it, or
    None (keep the model's proportions); rotation is 3 rows of 3 floats (v' = R @ v) turning the file
    into the canonical frame (up +Y, front +Z), or None. model_path and icon_path are absolute once
    loaded (relative to the catalogue dir inside catalogue.json); icon_path is "" without an icon."""

    model_id: str
    name: str
    category: str
    seat_kind: str | None
    size_cm: tuple[float, float, float] | None
    rotation: list[list[float]] | None
    creator: str | None
    licence: str
    source: str
    model_path: str
    icon_path: str
    tags: list[str] = field(default_factory=list)


def safe_id(model_id: str) -> str:
    """A directory name for a catalogue id: readable part plus a hash that keeps it unique."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._")[:60]
    return f"{slug}-{hashlib.sha1(model_id.encode()).hexdigest()[:8]}"


def entry_from_row(row: dict) -> CatalogueEntry:
    """The entry of one catalogue.json row."""
    size = row.get("size_cm")
    return CatalogueEntry(**{**row, "size_cm": tuple(size) if size else None})


def replace_entry(entry: CatalogueEntry, **changes) -> CatalogueEntry:
    return CatalogueEntry(**{**asdict(entry), **changes})


def absolute_entry(entry: CatalogueEntry, out_dir: Path) -> CatalogueEntry:
    """The entry with model and icon paths made absolute below out_dir (no icon stays "")."""
    root = Path(out_dir).resolve()
    return replace_entry(entry, model_path=str(root / entry.model_path),
                         icon_path=str(root / entry.icon_path) if entry.icon_path else "")
