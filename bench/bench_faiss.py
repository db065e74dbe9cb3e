"""FAISS factories at catalogue scale: build time, memory, recall@10 against Flat, single-query latency.

Run: .venv/bin/python -m bench.bench_faiss [--n 1000000] [--dim 256] [--budget-s 240]
Vectors are synthetic but clustered like view embeddings (many models, many nearby views each): unit
vectors around 20,000 random centres. Queries are fresh draws from the same clusters. Every index goes
through index.vectors.VectorIndex (IndexIDMap2, inner product), queries one at a time with the BLAS
threshold it sets. A factory whose build exceeds --budget-s stops adding and is measured on what it
holds (recall against Flat on the same prefix), so the whole run stays bounded. Writes JSON to
bench/results/faiss.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import faiss
import numpy as np

from index.vectors import VectorIndex

FACTORIES = ("Flat", "HNSW32,Flat", "IVF4096,PQ32")
BATCH = 50_000


def clustered_vectors(n: int, dim: int, seed: int, centres: int = 20_000, spread: float = 0.6) -> np.ndarray:
    """(n, dim) float32 unit rows: a random centre plus Gaussian noise of norm ~spread."""
    rng = np.random.default_rng(seed)
    centre_rng = np.random.default_rng(12345)  # same centres for database and queries
    means = centre_rng.normal(size=(centres, dim)).astype(np.float32)
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, BATCH):
        stop = min(n, start + BATCH)
        rows = means[rng.integers(0, centres, stop - start)]
        rows += rng.normal(scale=spread / np.sqrt(dim), size=rows.shape).astype(np.float32)
        out[start:stop] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def build(factory: str, vectors: np.ndarray, train_n: int, budget_s: float) -> tuple[VectorIndex, dict]:
    """Train (on the first train_n rows) and add in batches until done or over budget."""
    index = VectorIndex(vectors.shape[1], factory)
    start = time.perf_counter()
    index.train(vectors[:train_n])
    trained = time.perf_counter() - start
    for first in range(0, len(vectors), BATCH):
        index.add(np.arange(first, min(len(vectors), first + BATCH)), vectors[first:first + BATCH])
        if time.perf_counter() - start > budget_s:
            break
    seconds = time.perf_counter() - start
    return index, {"build_s": round(seconds, 1), "train_s": round(trained, 1), "indexed": index.ntotal,
                   "build_s_per_1m": round(seconds / index.ntotal * 1e6, 1),
                   "memory_mb": round(faiss.serialize_index(index._index).nbytes / 1e6, 1)}


def query_figures(index: VectorIndex, queries: np.ndarray, truth: np.ndarray, k: int = 10) -> dict:
    """Single-query latency (median, p95 in ms) and recall@k against exact neighbours `truth` (q, k)."""
    times, found = [], []
    for query in queries:
        start = time.perf_counter()
        _, ids = index.search(query[None], k)
        times.append(time.perf_counter() - start)
        found.append(ids[0])
    recall = np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)])
    return {"query_ms_median": round(float(np.median(times)) * 1e3, 3),
            "query_ms_p95": round(float(np.percentile(times, 95)) * 1e3, 3), f"recall_at_{k}": round(recall, 4)}


def exact_neighbours(vectors: np.ndarray, queries: np.ndarray, n: int, k: int = 10) -> np.ndarray:
    """Ids (q, k) of the exact top-k inner products among the first n vectors (batched, BLAS)."""
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors[:n])
    return flat.search(queries, k)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--train", type=int, default=200_000, help="training vectors for IVF/PQ")
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--ef-search", type=int, default=64)
    parser.add_argument("--k", type=int, default=10, help="neighbours per query (the service asks >= 256)")
    parser.add_argument("--budget-s", type=float, default=240, help="max build seconds per factory")
    parser.add_argument("--factories", default=";".join(FACTORIES), help="';'-separated factory strings")
    parser.add_argument("--out", type=Path, default=Path("bench/results/faiss.json"))
    args = parser.parse_args()
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                          f"{faiss.omp_get_max_threads()} FAISS threads, load {os.getloadavg()[0]:.1f}",
               "faiss": faiss.__version__, "n": args.n, "dim": args.dim, "queries": args.queries, "k": args.k,
               "rows": []}
    start = time.perf_counter()
    vectors = clustered_vectors(args.n, args.dim, seed=0)
    queries = clustered_vectors(args.queries, args.dim, seed=1)
    results["data_s"] = round(time.perf_counter() - start, 1)
    truth: dict[int, np.ndarray] = {}
    for factory in args.factories.split(";"):
        index, row = build(factory, vectors, args.train, args.budget_s)
        knobs = index.tune(args.ef_search, args.nprobe)
        if index.ntotal not in truth:
            truth[index.ntotal] = exact_neighbours(vectors, queries, index.ntotal, args.k)
        row = {"factory": factory, "search": knobs, **row,
               **query_figures(index, queries, truth[index.ntotal], args.k)}
        results["rows"].append(row)
        print(json.dumps(row), flush=True)
        del index
    results["total_s"] = round(time.perf_counter() - start, 1)
    results["load_after"] = round(os.getloadavg()[0], 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "rows"}))


if __name__ == "__main__":
    main()
