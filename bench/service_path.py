"""What the real-photo benches answer with: the service's own parts, loaded as the service loads them.

The configured index and the embedder it was built with, the seat detector, and a Searcher with the shipped
pose calibration and the configured pose options (app.deps.search_options), so that a bench measures what
users get; plus the machine facts every result file records.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

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


def machine() -> dict:
    """Architecture, cores and the load average now (1, 5, 15 min)."""
    return {"arch": platform.machine(), "cores": os.cpu_count(),
            "load_before": [round(x, 2) for x in os.getloadavg()]}
