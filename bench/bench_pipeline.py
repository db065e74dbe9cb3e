"""Throughput of each stage on real catalogue models: render/s, embed/s, pipeline views/s, query latency.

Run: .venv/bin/python -m bench.bench_pipeline [--models 6] [--data-dir data]
Needs the default catalogue and weights (`photo2cad setup`). Prints a Markdown table and writes JSON to
bench/results/pipeline.json. Baselines measured in the same run: render with 1 worker, `model.predict`
per image, FAISS's default BLAS threshold, and the slower of render-only and embed-only for the pipeline.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

FAISS_DEFAULT_THRESHOLD = int(faiss.cvar.distance_compute_blas_threshold)  # before index.vectors sets it

from app.bootstrap import source_from_entry
from catalogue.default import load_catalogue
from index.build import index_models, view_cameras
from index.collection import Collection, ViewConfig
from index.vectors import VectorIndex
from models.transfer import build_embedder
from render.backgrounds import composite
from render.pool import RenderJob, render_jobs


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    """Best wall time in seconds of `repeat` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def render_rate(sources, cameras: np.ndarray, size_px: int, workers: int) -> tuple[float, np.ndarray]:
    """Views/s rendering every source from every camera; also returns the RGB views of the first."""
    jobs = [RenderJob(s.model_id, str(s.path), s.rotation, list(s.size) if s.size else None, cameras, size_px)
            for s in sources]
    list(render_jobs(jobs[:1], workers))  # start-up (spawn, GL context) is not throughput
    seconds, results = timed(lambda: list(render_jobs(jobs, workers)))
    first = next(r for r in results if r.error is None)
    return len(jobs) * len(cameras) / seconds, composite(first.images, (255, 255, 255))


def embed_figures(name: str, weights_dir: Path, images: np.ndarray) -> dict:
    embedder = build_embedder(name, weights_dir)
    embedder.embed(images[:32])
    batch_s, _ = timed(lambda: embedder.embed(images[:64]), repeat=2)
    one_s, _ = timed(lambda: embedder.embed(images[:1]), repeat=5)
    size = embedder.info.input_size_px
    one = np.zeros((1, size, size, 3), np.float32)  # baseline: the same network through model.predict
    predict_s, _ = timed(lambda: embedder._model.predict(one, verbose=0), repeat=5)
    return {"backbone": name, "images_per_s_batch32": 64 / batch_s, "latency_one_ms": one_s * 1e3,
            "predict_one_ms": predict_s * 1e3, "predict_over_tf_function": predict_s / one_s}


def faiss_figures(n_vectors: int, dim: int, queries: int = 200) -> dict:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n_vectors, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex.from_batches(dim, "Flat", [(np.arange(n_vectors), vectors)])
    single = vectors[:queries]
    figures = {"vectors": n_vectors, "dim": dim, "library_default_threshold": FAISS_DEFAULT_THRESHOLD}
    for threshold in (FAISS_DEFAULT_THRESHOLD, 20, 1):
        faiss.cvar.distance_compute_blas_threshold = threshold
        seconds, _ = timed(lambda: [index.search(q[None], 256) for q in single], repeat=2)
        figures[f"search_ms_threshold_{threshold}"] = seconds / queries * 1e3
    faiss.cvar.distance_compute_blas_threshold = 1  # what index.vectors sets
    figures["default_over_tuned"] = (figures[f"search_ms_threshold_{FAISS_DEFAULT_THRESHOLD}"]
                                     / figures["search_ms_threshold_1"])
    return figures


def pipeline_rate(sources, embedder, config: ViewConfig, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        collection = Collection.create(Path(tmp) / "idx", embedder.info, config)
        seconds, report = timed(lambda: index_models(collection, embedder, sources, workers, progress=False))
        collection.close()
    return report.views / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--models", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("bench/results/pipeline.json"))
    args = parser.parse_args()
    entries = load_catalogue(args.data_dir / "catalogue")
    sources = [source_from_entry(e) for e in entries[: args.models]]
    config = ViewConfig()
    cameras = view_cameras(config)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average before "
                          f"{os.getloadavg()[0]:.1f}",
               "models": len(sources), "views_per_model": len(cameras)}
    for workers in (1, 2):
        rate, views = render_rate(sources, cameras, config.size_px, workers)
        results[f"render_views_per_s_{workers}_workers"] = rate
    images = np.concatenate([views] * 2)[:64]
    results["embed"] = [embed_figures(n, args.data_dir / "weights", images)
                        for n in ("efficientnet_lite0", "inception_v3")]
    lite0 = build_embedder("efficientnet_lite0", args.data_dir / "weights")
    results["pipeline_views_per_s"] = pipeline_rate(sources, lite0, config, workers=2)
    slower = min(results["render_views_per_s_2_workers"], results["embed"][0]["images_per_s_batch32"])
    results["pipeline_over_slower_stage"] = results["pipeline_views_per_s"] / slower
    results["faiss"] = faiss_figures(104 * len(cameras), lite0.info.dim)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results["load_average_after"] = round(os.getloadavg()[0], 1)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
