"""Load benchmark of the real service on loopback: req/s and latency at 1-8 clients vs the bare embedder.

Run: .venv/bin/python -m bench.load [--seconds 15] [--clients 1,2,4,8] [--max-requests 3000]
                                   [--batching on,off] [--data-dir data]
Needs the default index (<data-dir>/index/efficientnet_lite0) and weights. Measures the bare embedder
first (batch throughput, single-image latency) in this process, then, once per --batching mode, starts
`photo2cad serve` (PHOTO2CAD_BATCHING on or off) on a free 127.0.0.1 port, drives POST /api/search from
N client threads per level (in a separate process) and stops the server; prints a Markdown table (with the mean batch sizes of each
level, embed and search, from /metrics) and writes JSON to bench/results/load.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
INDEX = Path("index") / "efficientnet_lite0"  # inside the data dir


def query_images(data_dir: Path, n_views: int = 4, seed: int = 0) -> list[bytes]:
    """JPEG bytes: `n_views` rendered index views (224 px, white ground) and one composited on a
    seeded smooth colour background (360x280 px, so the server's square padding has work to do)."""
    model_dirs = sorted(p for p in (data_dir / INDEX / "views").iterdir() if p.is_dir())
    picks = [model_dirs[i * len(model_dirs) // n_views] for i in range(n_views)]
    paths = [min(d.rglob("*.jpg")) for d in picks]
    jpegs = [p.read_bytes() for p in paths]
    return jpegs + [_composite_jpeg(Image.open(paths[0]).convert("RGB"), seed)]


def _composite_jpeg(view: Image.Image, seed: int) -> bytes:
    """The view's non-white pixels pasted onto a blurry random background, as JPEG bytes."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    background = coarse.resize((360, 280), Image.Resampling.BICUBIC)
    mask = Image.fromarray(((np.asarray(view).min(axis=-1) < 240) * 255).astype(np.uint8))
    background.paste(view, (70, 28), mask)
    out = io.BytesIO()
    background.save(out, "JPEG", quality=90)
    return out.getvalue()


def _median_seconds(fn, repeat: int) -> tuple[float, float]:
    """Median wall and CPU (this process) seconds of `repeat` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return float(np.median(walls)), float(np.median(cpus))


def bare_embedder(jpegs: list[bytes], data_dir: Path) -> dict:
    """Batch throughput (images/s at 8 and 32) and single-image latency (ms) of embedder.embed."""
    from models.transfer import build_embedder  # TensorFlow loads here only

    embedder = build_embedder("efficientnet_lite0", data_dir / "weights")
    arrays = np.stack([np.asarray(Image.open(io.BytesIO(j)).convert("RGB").resize((224, 224)))
                       for j in jpegs])
    batch = np.resize(arrays, (32, *arrays.shape[1:]))
    for n in (1, 8, 32):  # trace and warm every shape before timing
        embedder.embed(batch[:n])
    batch8 = _median_seconds(lambda: embedder.embed(batch[:8]), 5)
    batch32 = _median_seconds(lambda: embedder.embed(batch), 3)
    single = _median_seconds(lambda: embedder.embed(batch[:1]), 20)
    return {"images_per_s_batch8": round(8 / batch8[0], 2), "images_per_s_batch32": round(32 / batch32[0], 2),
            "single_ms": round(1000 * single[0], 2), "single_cpu_ms": round(1000 * single[1], 2),
            "batch32_cpu_ms_per_image": round(1000 * batch32[1] / 32, 2)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, log: io.BufferedRandom, data_dir: Path, batching: str) -> subprocess.Popen:
    """`photo2cad serve` in its own session (a terminal Ctrl-C reaches only us; we stop it)."""
    env = os.environ | {"PHOTO2CAD_DATA_DIR": str(data_dir), "PHOTO2CAD_BATCHING": str(batching == "on"),
                        "PHOTO2CAD_INDEX_DIR": str(data_dir / INDEX)}
    return subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(url: str, server: subprocess.Popen, log: io.BufferedRandom, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited {server.returncode}:\n{log.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server not healthy after {timeout_s} s")


def stop_server(server: subprocess.Popen) -> None:
    """SIGINT (uvicorn's graceful shutdown, lifespan closes the index), then SIGKILL if it hangs."""
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _client(url: str, jpegs: list[bytes], offset: int, deadline: float, budget: list, out: dict) -> None:
    """One client: sequential searches until the deadline or the shared request budget runs out."""
    with httpx.Client(timeout=60) as http:
        for i in range(offset, 10**9):
            with out["lock"]:
                if time.monotonic() >= deadline or budget[0] <= 0:
                    return
                budget[0] -= 1
            start = time.perf_counter()
            try:
                ok = http.post(f"{url}/api/search", files={"image": (f"q{i}.jpg", jpegs[i % len(jpegs)],
                                                                     "image/jpeg")}).status_code == 200
            except httpx.HTTPError:
                ok = False
            with out["lock"]:
                if ok:
                    out["latencies"].append(time.perf_counter() - start)
                out["errors"] += not ok


def drive(url: str, jpegs: list[bytes], clients: int, seconds: float, max_requests: int) -> dict:
    """`drive_here` in a separate process, so that the clients' Python does not share the benchmark's
    interpreter (and GIL) with anything else; same result."""
    with tempfile.TemporaryDirectory() as folder:
        for number, jpeg in enumerate(jpegs):
            (Path(folder) / f"q{number}.jpg").write_bytes(jpeg)
        command = [sys.executable, "-m", "bench.load", "--drive", url, "--queries", folder, "--clients",
                   str(clients), "--seconds", str(seconds), "--max-requests", str(max_requests)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def drive_here(url: str, jpegs: list[bytes], clients: int, seconds: float, max_requests: int) -> dict:
    """`clients` threads for `seconds` (or `max_requests` in all); req/s and latency percentiles in ms."""
    out, budget = {"lock": threading.Lock(), "latencies": [], "errors": 0}, [max_requests]
    start = time.monotonic()
    threads = [threading.Thread(target=_client, daemon=True,
                                args=(url, jpegs, k, start + seconds, budget, out)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, ms = time.monotonic() - start, 1000 * np.array(out["latencies"])
    p50, p95, p99 = np.percentile(ms, [50, 95, 99]) if len(ms) else (float("nan"),) * 3
    return {"clients": clients, "requests": len(ms), "errors": out["errors"], "seconds": round(elapsed, 2),
            "req_per_s": round(len(ms) / elapsed, 2), "p50_ms": round(float(p50), 1),
            "p95_ms": round(float(p95), 1), "p99_ms": round(float(p99), 1)}


BATCH_STAGES = ("embed", "search")  # the service's photo2cad_<stage>_batch_size histograms


def batch_counts(url: str) -> dict[str, float]:
    """Batch-size histogram counts and sums so far, e.g. {"embed_count": forward passes, "embed_sum":
    photos embedded}, from /metrics."""
    values = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        for stage in BATCH_STAGES:
            for part in ("count", "sum"):
                if line.startswith(f"photo2cad_{stage}_batch_size_{part} "):
                    values[f"{stage}_{part}"] = float(line.split()[1])
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive_level(url: str, jpegs: list[bytes], clients: int, seconds: float, max_requests: int,
                server_pid: int) -> dict:
    """`drive` plus the mean batch size of each stage during it (None without batching) and the server's
    CPU ms per answered request (a figure the other sessions' load on the machine barely changes)."""
    before, cpu_before = batch_counts(url), cpu_seconds(server_pid)
    row = drive(url, jpegs, clients, seconds, max_requests)
    after, cpu_after = batch_counts(url), cpu_seconds(server_pid)
    row["server_cpu_ms_per_request"] = round(1000 * (cpu_after - cpu_before) / max(1, row["requests"]), 2)
    for stage in BATCH_STAGES:
        batches = after.get(f"{stage}_count", 0) - before.get(f"{stage}_count", 0)
        items = after.get(f"{stage}_sum", 0) - before.get(f"{stage}_sum", 0)
        row[f"mean_{stage}_batch"] = round(items / batches, 2) if batches else None
    return row


def serve_and_drive(jpegs: list[bytes], levels: list[int], seconds: float, max_requests: int,
                    data_dir: Path, batching: str, port: int = 0) -> list[dict]:
    """Start the service (batching "on" or "off") on `port` (0: a free one), warm it up, run every
    level, always stop it."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        server = start_server(port, log, data_dir, batching)
        try:
            wait_healthy(url, server, log)
            drive(url, jpegs, 1, 3, 5)  # first requests trace the tf.function
            drive(url, jpegs, max(levels), 3, 4 * max(levels))  # and warm the batch sizes to come
            rows = [drive_level(url, jpegs, n, seconds, max_requests, server.pid) for n in levels]
            return [{"batching": batching} | row for row in rows]
        finally:
            stop_server(server)


def bare_cpu_ms(bare: dict, clients: int) -> float:
    """The bare embedder's CPU ms per image to compare a level with: one image alone at 1 client, in
    batches of 32 under concurrency."""
    return bare["single_cpu_ms"] if clients == 1 else bare["batch32_cpu_ms_per_image"]


def table(rows: list[dict], bare: dict) -> str:
    header = ("| batching | clients | req/s | p50 ms | p95 ms | p99 ms | errors | mean batch embed/search "
              "| req/s / bare b32 img/s | p50 / bare 1-img | server CPU ms/req | / bare CPU ms/img (1 or b32) |")
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        throughput_ratio = r["req_per_s"] / bare["images_per_s_batch32"]
        latency_ratio = r["p50_ms"] / bare["single_ms"]
        mean_batch = "/".join("-" if r[f"mean_{stage}_batch"] is None else f"{r[f'mean_{stage}_batch']:.1f}"
                              for stage in BATCH_STAGES)
        lines.append(f"| {r['batching']} | {r['clients']} | {r['req_per_s']:.1f} | {r['p50_ms']:.1f} "
                     f"| {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | {mean_batch} "
                     f"| {throughput_ratio:.2f} | {latency_ratio:.2f} | {r['server_cpu_ms_per_request']:.1f} "
                     f"| {r['server_cpu_ms_per_request'] / bare_cpu_ms(bare, r['clients']):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15, help="duration of each concurrency level")
    parser.add_argument("--clients", default="1,2,4,8", help="comma-separated concurrency levels")
    parser.add_argument("--max-requests", type=int, default=3000, help="hard cap per level")
    parser.add_argument("--batching", default="on,off", help="micro-batching on, off, or both in turn")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data",
                        help="data folder with index/efficientnet_lite0 and weights (only read)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.json")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--drive", metavar="URL", help=argparse.SUPPRESS)  # the clients' process
    parser.add_argument("--queries", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        jpegs = [path.read_bytes() for path in sorted(args.queries.glob("*.jpg"))]
        print(json.dumps(drive_here(args.drive, jpegs, int(args.clients), args.seconds, args.max_requests)))
        return 0
    modes = args.batching.split(",")
    if not modes or set(modes) - {"on", "off"}:
        parser.error("--batching takes on, off or on,off")
    load_before, jpegs = os.getloadavg(), query_images(args.data_dir)
    bare = bare_embedder(jpegs, args.data_dir)
    print(f"bare embedder: {bare['images_per_s_batch8']:.1f} img/s at batch 8, "
          f"{bare['images_per_s_batch32']:.1f} img/s at batch 32 ({bare['batch32_cpu_ms_per_image']:.1f} CPU ms "
          f"per image), single image {bare['single_ms']:.1f} ms ({bare['single_cpu_ms']:.1f} CPU ms)")
    levels = [int(n) for n in args.clients.split(",")]
    rows = [row for mode in modes
            for row in serve_and_drive(jpegs, levels, args.seconds, args.max_requests, args.data_dir, mode,
                                       args.port)]
    print(table(rows, bare))
    result = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": {"arch": platform.machine(), "cores": os.cpu_count(),
                          "load_before": [round(x, 2) for x in load_before],
                          "load_after": [round(x, 2) for x in os.getloadavg()]},
              "queries": len(jpegs), "seconds_per_level": args.seconds, "max_requests": args.max_requests,
              "batch_settings": {k: v for k, v in os.environ.items() if k.startswith("PHOTO2CAD_BATCH_")},
              "bare_embedder": bare, "levels": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"wrote {args.out}")
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
