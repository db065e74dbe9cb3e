"""Search latency of a phone-size photo against the same photo at 300 px, through the real service.

Run: .venv/bin/python -m bench.bench_photo_latency --photo real.jpg [--requests 60] [--port 8101]
--photo: a real photograph (JPEG with EXIF). It is upscaled here to at least 12 megapixels if smaller,
saved as a quality-95 JPEG (--quality) with the photo's own EXIF, Orientation set to 6 (how a phone held upright
stores its picture: sideways, with the turn in EXIF), and shrunk to 300 px (longest side, upright, no
EXIF) for the small query. The service (`photo2cad serve`, default index) is started on 127.0.0.1,
warmed up, then asked the two queries alternately from one client (so that any drift in the machine's
load hits both alike); prints the p50 of each and their ratio (issue 9's target: <= 1.5), and writes
JSON to bench/results/photo_latency.json.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageOps

from bench.load import ROOT, cpu_seconds, free_port, start_server, stop_server, wait_healthy

PHONE_PIXELS = 12_000_000
SMALL_SIDE_PX = 300


def phone_jpeg(photo: Path, pixels: int = PHONE_PIXELS, quality: int = 95) -> bytes:
    """The photo as a phone would store it: >= `pixels` px, its EXIF with Orientation 6."""
    source = Image.open(photo)
    exif = source.getexif()
    upright = ImageOps.exif_transpose(source).convert("RGB")
    factor = max(1.0, math.sqrt(pixels / (upright.width * upright.height)))
    big = upright.resize((math.ceil(upright.width * factor), math.ceil(upright.height * factor)),
                         Image.Resampling.LANCZOS)
    exif[0x0112] = 6  # stored turned left, shown turned right
    out = io.BytesIO()
    big.transpose(Image.Transpose.ROTATE_90).save(out, "JPEG", quality=quality, exif=exif)
    return out.getvalue()


def small_jpeg(phone: bytes, side_px: int = SMALL_SIDE_PX) -> bytes:
    """The same picture, upright, longest side `side_px`, no EXIF."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(phone))).convert("RGB")
    image.thumbnail((side_px, side_px), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def alternate(url: str, queries: dict[str, bytes], requests: int, server_pid: int,
              ) -> tuple[dict[str, list[float]], dict[str, float]]:
    """`requests` searches of each query, alternating: latencies in ms per query, and the server's CPU
    seconds spent on each query in all."""
    latencies: dict[str, list[float]] = {name: [] for name in queries}
    cpu = dict.fromkeys(queries, 0.0)
    with httpx.Client(timeout=60) as http:
        for _ in range(requests):
            for name, data in queries.items():
                cpu_before, start = cpu_seconds(server_pid), time.perf_counter()
                response = http.post(f"{url}/api/search", files={"image": (f"{name}.jpg", data, "image/jpeg")})
                latencies[name].append(1000 * (time.perf_counter() - start))
                cpu[name] += cpu_seconds(server_pid) - cpu_before
                response.raise_for_status()
    return latencies, cpu


def summary(latencies: dict[str, list[float]], cpu: dict[str, float]) -> dict:
    rows = {name: {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p90_ms": round(float(np.percentile(ms, 90)), 1),
                   "server_cpu_ms_per_request": round(1000 * cpu[name] / len(ms), 1), "requests": len(ms)}
            for name, ms in latencies.items()}
    rows["ratio_p50"] = round(rows["phone"]["p50_ms"] / rows["small"]["p50_ms"], 2)
    rows["ratio_server_cpu"] = round(rows["phone"]["server_cpu_ms_per_request"]
                                     / rows["small"]["server_cpu_ms_per_request"], 2)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, required=True, help="a real photograph (JPEG)")
    parser.add_argument("--requests", type=int, default=60, help="searches of each query")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality of the phone-size photo")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "photo_latency.json")
    args = parser.parse_args(argv)
    phone = phone_jpeg(args.photo, quality=args.quality)
    queries = {"phone": phone, "small": small_jpeg(phone)}
    shape = Image.open(io.BytesIO(phone)).size
    print(f"phone JPEG {shape[0]}x{shape[1]} ({shape[0] * shape[1] / 1e6:.1f} MP, {len(phone):,} bytes, "
          f"EXIF orientation 6); small {Image.open(io.BytesIO(queries['small'])).size} "
          f"({len(queries['small']):,} bytes)")
    load_before, port = os.getloadavg(), args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        server = start_server(port, log, args.data_dir, "on")
        try:
            wait_healthy(url, server, log)
            alternate(url, queries, 5, server.pid)  # traces the tf.function, warms the caches
            result = summary(*alternate(url, queries, args.requests, server.pid))
        finally:
            stop_server(server)
    print(f"p50 {result['phone']['p50_ms']} ms (12 MP) vs {result['small']['p50_ms']} ms (300 px): "
          f"ratio {result['ratio_p50']}; server CPU per request {result['phone']['server_cpu_ms_per_request']} "
          f"vs {result['small']['server_cpu_ms_per_request']} ms: ratio {result['ratio_server_cpu']}")
    record = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": {"arch": platform.machine(), "cores": os.cpu_count(),
                          "load_before": [round(x, 2) for x in load_before],
                          "load_after": [round(x, 2) for x in os.getloadavg()]},
              "photo": {"source": args.photo.name, "size": list(shape), "bytes": len(phone)},
              "settings": {k: v for k, v in os.environ.items() if k.startswith("PHOTO2CAD_")}} | result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
