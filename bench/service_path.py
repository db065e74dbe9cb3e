"""What the real-photo benches answer with: the service's own parts, loaded as the service loads them.

The configured index and the embedder it was built with, the seat detector, and a Searcher with the shipped
pose calibration and the configured pose options (app.deps.search_options), so that a bench measures what
users get; plus the machine facts every result file records, and the arguments every such bench takes.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app import bootstrap
from app.deps import search_options
from app.settings import Settings
from index.calibration import shipped_calibration
from index.collection import Collection
from index.search import Searcher
from models.embedder import Embedder


@dataclass
class ServicePath:
    settings: Settings
    collection: Collection
    embedder: Embedder
    detector: object  # models.detector.SeatDetector

    def searcher(self, searcher_class: type[Searcher] = Searcher, **options) -> Searcher:
        """A fresh searcher_class over the index with the service's calibration and pose options; options
        override Searcher arguments (e.g. kind_vote_weight)."""
        return searcher_class(self.collection, self.embedder,
                              calibration=shipped_calibration(self.collection.manifest),
                              **{**search_options(self.settings), **options})


def service_path() -> ServicePath:
    """The configured service's index, embedder and detector (app.bootstrap, from the environment)."""
    settings = Settings()
    collection = Collection.open(settings.resolved_index_dir)
    return ServicePath(settings, collection, bootstrap.load_embedder(settings), bootstrap.load_detector(settings))


def alternate_medians_ms(calls: dict[Hashable, Callable[[], object]], repeats: int, dropped: int = 3,
                         ) -> dict[Hashable, float]:
    """Each call timed `repeats` times, the calls taking turns (so that drift in the machine's load hits them
    alike); the first `dropped` times of each left out. Returns each call's median in milliseconds."""
    times: dict[Hashable, list[float]] = {key: [] for key in calls}
    for _ in range(repeats):
        for key, call in calls.items():
            start = time.perf_counter()
            call()
            times[key].append(time.perf_counter() - start)
    return {key: float(np.median(values[dropped:])) * 1000 for key, values in times.items()}


def machine() -> dict:
    """Architecture, cores and the load average now (1, 5, 15 min)."""
    return {"arch": platform.machine(), "cores": os.cpu_count(),
            "load_before": [round(x, 2) for x in os.getloadavg()]}


def real_photo_parser(doc: str, default_out: str) -> argparse.ArgumentParser:
    """The arguments every real-photo bench takes: --photos (the extracted set) and --out (its result file);
    the bench adds its own, parses, then calls require_photos."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path("data/realphotos"))
    parser.add_argument("--out", type=Path, default=Path(default_out))
    return parser


def number_list(parser: argparse.ArgumentParser, option: str, text: str, accept: Callable[[float], bool],
                wanted: str) -> list[float]:
    """A comma-separated option's numbers (empty items skipped), each passing `accept`; else a one-line usage
    error "<option> takes numbers <wanted>, got <text>" (exit 2)."""
    try:
        values = [float(x) for x in text.split(",") if x]
    except ValueError:
        values = []
    if not values or not all(accept(v) for v in values):
        parser.error(f"{option} takes numbers {wanted}, got {text!r}")
    return values


def require_photos(parser: argparse.ArgumentParser, photos_dir: Path) -> None:
    """A one-line usage error (exit 2) when the real-photo set is not extracted in photos_dir."""
    from evaluation.real_photo_set import load_manifest, missing_photos

    if (missing := missing_photos(load_manifest(), photos_dir)) is not None:
        parser.error(missing)
