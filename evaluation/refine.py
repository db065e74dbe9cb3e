"""Render-and-compare refinement of evaluation outcomes (the service's refiner is index.refine)."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from evaluation.evaluate import QueryOutcome
from evaluation.splits import Query
from index.refine import RenderSession, refine_camera
from index.search import Searcher
from render.cameras import angular_error_deg


@dataclasses.dataclass
class RenderCompareRefiner:
    """Refines the top-1 pose of every outcome (evaluation hook of evaluation.report.EvalTarget)."""

    radii_deg: tuple[float, ...] = (8.0, 4.0)
    ring: int = 6

    def __call__(self, searcher: Searcher, images: np.ndarray, queries: list[Query],
                 outcomes: list[QueryOutcome]) -> list[QueryOutcome]:
        session = RenderSession()
        try:
            return [self._one(session, searcher, image, q, o)
                    for image, q, o in zip(images, queries, outcomes)]
        finally:
            session.close()

    def _one(self, session: RenderSession, searcher: Searcher, image: np.ndarray, query: Query,
             outcome: QueryOutcome) -> QueryOutcome:
        if outcome.estimated_camera is None:
            return outcome
        started = time.perf_counter()
        record = searcher.models[outcome.ranked_models[0]]
        camera = refine_camera(session, searcher, record, searcher.embed(image[None])[0],
                               np.asarray(outcome.estimated_camera), self.radii_deg, self.ring)
        error = float(angular_error_deg(np.asarray(query.camera), camera))
        return dataclasses.replace(outcome, refined_error_deg=error,
                                   refine_seconds=time.perf_counter() - started)
