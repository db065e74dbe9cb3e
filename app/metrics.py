"""Prometheus metrics of the service: requests by route and status, stage latencies, embed batch sizes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, TypeVar

import numpy as np
from fastapi import APIRouter, Depends, Request, Response
from PIL import Image
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from index.search import SearchAnswer, Searcher
from models.detector import Detection, SeatDetector

T = TypeVar("T")
# Seconds; embedding one photo on a CPU takes ~20 ms (small model) to ~1 s (large model, busy host).
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)  # photos per forward pass or search


class Metrics:
    """One registry per app, so several apps (tests) can live in one process without clashing."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter("photo2cad_requests_total", "HTTP requests answered.",
                                ["method", "route", "status"], registry=self.registry)
        self.request_seconds = Histogram("photo2cad_request_duration_seconds", "HTTP request latency.",
                                         ["method", "route"], registry=self.registry)
        self.embed_seconds = Histogram("photo2cad_embed_seconds", "Time to embed one query photo "
                                       "(with micro-batching: including the wait for its batch).",
                                       buckets=STAGE_BUCKETS, registry=self.registry)
        self.embed_batch_size = Histogram("photo2cad_embed_batch_size", "Query photos per forward pass of "
                                          "the micro-batcher.", buckets=BATCH_BUCKETS, registry=self.registry)
        self.search_batch_size = Histogram("photo2cad_search_batch_size", "Queries per index search of the "
                                           "micro-batcher.", buckets=BATCH_BUCKETS, registry=self.registry)
        self.search_seconds = Histogram("photo2cad_search_seconds", "Time to search the index and rank "
                                        "models for one embedded query.", buckets=STAGE_BUCKETS,
                                        registry=self.registry)
        self.detect_seconds = Histogram("photo2cad_detect_seconds", "Time to find the seats in one photo.",
                                        buckets=STAGE_BUCKETS, registry=self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.request_seconds.labels(method, route).observe(seconds)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


def _timed(histogram: Histogram, work: Callable[[], T]) -> T:
    start = time.perf_counter()
    try:
        return work()
    finally:
        histogram.observe(time.perf_counter() - start)


class TimedSearcher:
    """A Searcher whose `embed`, `embed_with_mirror` and `search_embeddings` calls are timed, one observation
    per call (a photo's seat crops are embedded in one call and searched in one call); anything else is passed
    on."""

    def __init__(self, searcher: Searcher, metrics: Metrics) -> None:
        self._searcher, self._metrics = searcher, metrics

    def embed(self, images: np.ndarray) -> np.ndarray:
        return _timed(self._metrics.embed_seconds, lambda: self._searcher.embed(images))

    def embed_with_mirror(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return _timed(self._metrics.embed_seconds, lambda: self._searcher.embed_with_mirror(images))

    def search_embeddings(self, queries: np.ndarray, top_k: int = 5, true_camera: np.ndarray | None = None,
                          mirrored: np.ndarray | None = None) -> list[SearchAnswer]:
        return _timed(self._metrics.search_seconds,
                      lambda: self._searcher.search_embeddings(queries, top_k, true_camera, mirrored))

    def __getattr__(self, name: str):
        return getattr(self._searcher, name)


def timed_detect(detector: SeatDetector | None, metrics: Metrics, image: Image.Image) -> list[Detection]:
    """The seats in an RGB image, timed; none without a detector."""
    return [] if detector is None else _timed(metrics.detect_seconds, lambda: detector.detect(image))


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]
router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def metrics_endpoint(metrics: MetricsDep) -> Response:
    """Prometheus scrape endpoint."""
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
