"""Worst uploads under 1 MB: CPU time and peak memory of loading each one (models.photo), one process each.

Run: .venv/bin/python -m bench.bench_uploads [--photo real.jpg] [--out bench/results/uploads.json]
Each payload is built here (decompression bombs: huge solid-colour images of every accepted format,
progressive JPEGs, thin images, many-frame GIF and WebP, text-chunk bombs...), written to a temporary
file and loaded in a fresh `python -m bench.bench_uploads --one FILE` process, which measures
time.process_time() and the growth of its peak RSS (VmHWM, reset first) across load_photo + square_image.
Limits (issue 9): at most 1 s of CPU and 200 MB of memory per upload under 1 MB. Prints a Markdown
table; exits 1 if any case is over a limit. --photo adds a real photo (any size) as a reference row.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

ROOT = Path(__file__).resolve().parents[1]
CPU_LIMIT_S, MEMORY_LIMIT_MB, SIZE_LIMIT_BYTES = 1.0, 200.0, 1_000_000


def measure(path: Path, max_side_px: int = 1280, input_px: int = 224) -> dict:
    """Load one upload as the service does; CPU seconds, peak-RSS growth (MB) and the outcome."""
    from models.photo import PhotoError, load_photo, square_image

    data = path.read_bytes()
    rss_before_kb = _reset_peak_rss()
    start = time.process_time()
    try:
        photo = load_photo(data, max_side_px)
        square_image(photo.image, input_px)
        outcome = f"loaded {photo.original_size[0]}x{photo.original_size[1]} -> {photo.image.size[0]}x" \
                  f"{photo.image.size[1]}"
    except PhotoError as error:
        outcome = f"400: {error}"
    cpu_s = time.process_time() - start
    grown_kb = _peak_rss_kb() - rss_before_kb
    return {"cpu_s": round(cpu_s, 4), "peak_rss_growth_mb": round(grown_kb / 1024, 1), "outcome": outcome}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0: clear_refs 5) and return the current RSS, kB.
    (ru_maxrss cannot be reset, and a child inherits its parent's peak across exec.)"""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS")


def _peak_rss_kb() -> int:
    """Peak RSS since the last `_reset_peak_rss` (VmHWM), kB."""
    return _status_kb("VmHWM")


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _noise(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)


def _padded_to_budget(mode: str, fmt: str, patch_px: int, **options) -> bytes:
    """A solid square image with a noise patch (incompressible bytes) in its corner, as large as the
    loader's pixel budget for its byte size allows (8 pixels a byte): the largest accepted full decode."""
    from models.photo import PIXELS_PER_BYTE

    patch = Image.fromarray(_noise(patch_px, patch_px, 4)).convert(mode)
    side = 2000
    for _ in range(4):  # the byte size barely depends on the side: converges in a step or two
        image = Image.new(mode, (side, side), "white" if mode != "P" else 3)
        image.paste(patch, (0, 0))
        data = _save(image, fmt, **options)
        side = int(math.sqrt(PIXELS_PER_BYTE * len(data))) - 1
    return data


def _thin_jpeg() -> bytes:
    """The longest solid baseline JPEG allowed: 40 megapixels at aspect ratio 8:1."""
    return _save(Image.new("RGB", (17_888, 2_236), (40, 90, 160)), "JPEG", quality=95)


def _frames_gif(frames: int, side: int) -> bytes:
    images = [Image.new("P", (side, side), i % 200) for i in range(frames)]
    return _save(images[0], "GIF", save_all=True, append_images=images[1:], duration=10)


def _frames_webp(frames: int, side: int) -> bytes:
    images = [Image.new("RGB", (side, side), (i % 250, 0, 0)) for i in range(frames)]
    return _save(images[0], "WEBP", save_all=True, append_images=images[1:], lossless=True, duration=10)


def _ztxt_bomb(chunks: int = 400) -> bytes:
    """A small PNG carrying many compressed text chunks of 1 MB each once inflated."""
    info = PngImagePlugin.PngInfo()
    for i in range(chunks):
        info.add_text(f"k{i}", "a" * 1_000_000, zip=True)
    return _save(Image.fromarray(_noise(64, 64)), "PNG", pnginfo=info)


def _bmp_rle_bomb() -> bytes:
    """A 8-bit run-length encoded BMP: 2000x2000 of one colour in runs of 255 pixels."""
    width = height = 2000
    rows = b"".join(b"\xff\x05" * (width // 255) + bytes([width % 255, 5]) + b"\x00\x00" for _ in range(height))
    pixels = rows + b"\x00\x01"
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    header = (b"BM" + (54 + 1024 + len(pixels)).to_bytes(4, "little") + b"\0\0\0\0"
              + (54 + 1024).to_bytes(4, "little"))
    info = (40).to_bytes(4, "little") + width.to_bytes(4, "little") + height.to_bytes(4, "little") \
        + (1).to_bytes(2, "little") + (8).to_bytes(2, "little") + (1).to_bytes(4, "little") \
        + len(pixels).to_bytes(4, "little") + (2835).to_bytes(4, "little") * 2 + (256).to_bytes(4, "little") * 2
    return header + info + palette + pixels


CASES: dict[str, Callable[[], bytes]] = {
    "PNG 20000x8 (thin)": lambda: _save(Image.new("RGB", (20_000, 8)), "PNG"),
    "PNG 6000x8 (thin)": lambda: _save(Image.new("RGB", (6_000, 8)), "PNG"),
    "PNG 6000x6000 solid": lambda: _save(Image.new("RGB", (6000, 6000)), "PNG"),
    "PNG 2000x2000 solid RGBA (free budget)": lambda: _save(Image.new("RGBA", (2000, 2000)), "PNG"),
    "PNG RGBA at the byte budget (~1 MB)": lambda: _padded_to_budget("RGBA", "PNG", 480),
    "PNG 16-bit grey 2000x2000 solid": lambda: _save(Image.new("I;16", (2000, 2000), 30000), "PNG"),
    "PNG with 400 zTXt chunks of 1 MB": _ztxt_bomb,
    "GIF 2000x2000 solid": lambda: _save(Image.new("P", (2000, 2000), 7), "GIF"),
    "GIF 300 frames of 1500x1500": lambda: _frames_gif(300, 1500),
    "WebP lossless 2000x2000 solid": lambda: _save(Image.new("RGB", (2000, 2000)), "WEBP", lossless=True),
    "WebP lossless 16000x16000 solid": lambda: _save(Image.new("L", (16000, 16000)), "WEBP", lossless=True),
    "WebP 200 frames of 1500x1500": lambda: _frames_webp(200, 1500),
    "TIFF deflate 2000x2000 RGBA solid": lambda: _save(Image.new("RGBA", (2000, 2000)), "TIFF",
                                                       compression="tiff_adobe_deflate"),
    "TIFF 1-bit G4 6000x6000": lambda: _save(Image.new("1", (6000, 6000)), "TIFF", compression="group4"),
    "BMP RLE8 2000x2000": _bmp_rle_bomb,
    "JPEG baseline 7300x5475 solid (40 MP)": lambda: _save(Image.new("RGB", (7300, 5475), (9, 99, 199)),
                                                           "JPEG", quality=95),
    "JPEG baseline 40 MP 4:4:4 q100": lambda: _save(Image.new("RGB", (7300, 5475), (9, 99, 199)), "JPEG",
                                                    quality=100, subsampling=0),
    "JPEG baseline 17888x2236 solid (8:1, 40 MP)": _thin_jpeg,
    "JPEG progressive 6000x6000 solid": lambda: _save(Image.new("RGB", (6000, 6000)), "JPEG", progressive=True),
    "JPEG progressive 4:4:4 at the byte budget": lambda: _padded_to_budget(
        "RGB", "JPEG", 540, progressive=True, subsampling=0, quality=100),
    "JPEG header claiming 65500x65500": lambda: _jpeg_claiming(65_500, 65_500),
}


def _jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(_save(Image.fromarray(_noise(48, 64)), "JPEG"))
    frame = data.find(b"\xff\xc0")  # SOF0: marker, length (2), precision (1), height, width
    data[frame + 5:frame + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def run_case(path: Path) -> dict:
    """`measure` in a fresh process (so that one case's peak memory does not hide the next's)."""
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "bench.bench_uploads", "--one", str(path)], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def table(rows: list[dict]) -> str:
    lines = ["| upload | bytes | CPU s | peak RSS growth MB | within limits | outcome |",
             "|---|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['bytes']:,} | {r['cpu_s']:.3f} | {r['peak_rss_growth_mb']:.1f} "
                     f"| {'yes' if r['ok'] else '**NO**'} | {r['outcome'][:90]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--photo", type=Path, help="a real photo to add as a reference row")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "uploads.json")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one)))
        return 0
    load_before, rows = os.getloadavg(), []
    with tempfile.TemporaryDirectory() as tmp:
        payloads = {name: make() for name, make in CASES.items()}
        if args.photo:
            payloads[f"real photo {args.photo.name}"] = args.photo.read_bytes()
        for number, (name, data) in enumerate(payloads.items()):
            path = Path(tmp) / f"case{number}"
            path.write_bytes(data)
            row = {"case": name, "bytes": len(data)} | run_case(path)
            row["ok"] = len(data) >= SIZE_LIMIT_BYTES or (row["cpu_s"] <= CPU_LIMIT_S
                                                          and row["peak_rss_growth_mb"] <= MEMORY_LIMIT_MB)
            rows.append(row)
            print(f"{name}: {row['cpu_s']:.3f} s, {row['peak_rss_growth_mb']:.1f} MB", file=sys.stderr)
    print(table(rows))
    result = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": {"arch": platform.machine(), "cores": os.cpu_count(),
                          "load_before": [round(x, 2) for x in load_before],
                          "load_after": [round(x, 2) for x in os.getloadavg()]},
              "limits": {"cpu_s": CPU_LIMIT_S, "peak_rss_growth_mb": MEMORY_LIMIT_MB,
                         "for_uploads_under_bytes": SIZE_LIMIT_BYTES}, "cases": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
