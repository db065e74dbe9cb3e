"""FAISS's BLAS threshold on a flat index: CPU and wall time per search at 1-16 queries, per threshold.

Run: .venv/bin/python -m bench.bench_blas [--index data/index/efficientnet_lite0/vectors.faiss]
Searches the raw FAISS index (not index.vectors.VectorIndex, which picks the threshold per call) with
k = 256, like the service, at each threshold in turn, interleaved over --repeats rounds so that a change
in the machine's load hits every setting alike; prints median CPU (time.process_time) and wall ms per
search. Without --index: random unit vectors of the default index's size (8,528 x 1280).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import faiss
import numpy as np

LIBRARY_DEFAULT = int(faiss.cvar.distance_compute_blas_threshold)  # read before index.vectors is imported


def flat_index(path: Path | None, n: int = 8528, dim: int = 1280) -> tuple[faiss.Index, np.ndarray]:
    """The index to search and 64 queries near its vectors, (64, d) float32 unit rows."""
    rng = np.random.default_rng(0)
    if path is not None:
        index = faiss.read_index(str(path))
        inner = faiss.downcast_index(faiss.downcast_index(index).index)
        vectors = inner.reconstruct_n(0, inner.ntotal)
    else:
        vectors = rng.standard_normal((n, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
    queries = vectors[rng.integers(0, len(vectors), 64)] + 0.05 * rng.standard_normal((64, vectors.shape[1]))
    return index, (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def threshold_figures(index: faiss.Index, queries: np.ndarray, batch_sizes=(1, 2, 4, 8, 16),
                      thresholds=(LIBRARY_DEFAULT, 20, 1), repeats: int = 5, k: int = 256) -> list[dict]:
    """Median CPU and wall ms per search for every (batch size, threshold)."""
    times: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for _ in range(repeats):
        for q in batch_sizes:
            for threshold in thresholds:
                faiss.cvar.distance_compute_blas_threshold = threshold
                calls = max(2, 32 // q)
                wall, cpu = time.perf_counter(), time.process_time()
                for i in range(calls):
                    index.search(queries[(i * q) % 48:(i * q) % 48 + q], k)
                times.setdefault((q, threshold), []).append(((time.perf_counter() - wall) / calls,
                                                             (time.process_time() - cpu) / calls))
    faiss.cvar.distance_compute_blas_threshold = LIBRARY_DEFAULT
    return [{"queries": q, "threshold": t, "cpu_ms": round(1e3 * float(np.median([c for _, c in v])), 2),
             "wall_ms": round(1e3 * float(np.median([w for w, _ in v])), 2)} for (q, t), v in times.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="a vectors.faiss file (default: random vectors)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()
    index, queries = flat_index(args.index)
    rows = threshold_figures(index, queries, repeats=args.repeats)
    print(f"{index.ntotal} x {index.d}, k = 256, OpenMP threads {faiss.omp_get_max_threads()}, load average "
          f"{load[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    print("| queries | threshold | CPU ms / search | wall ms / search |\n|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['queries']} | {row['threshold']:,} | {row['cpu_ms']:.2f} | {row['wall_ms']:.2f} |")


if __name__ == "__main__":
    main()
