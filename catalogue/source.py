"""What a catalogue source is: the Debian packages it needs and how it turns them into seats."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from catalogue.entry import CatalogueEntry

# (unpacked package roots {package: root}, catalogue dir, show progress) -> seats, paths relative to the dir
SeatsFunction = Callable[[dict[str, Path], Path, bool], list[CatalogueEntry]]


@dataclass(frozen=True)
class Source:
    """One origin of seat models. `packages` are fetched with apt before `seats` runs (nonfree ones only
    when asked); `seats` extracts or copies each seat's files below the catalogue dir, once (a rerun
    finds them and copies nothing), and returns the entries with paths relative to that dir."""

    name: str
    packages: tuple[str, ...]
    seats: SeatsFunction
    nonfree_packages: tuple[str, ...] = ()
