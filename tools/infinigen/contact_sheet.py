"""A contact sheet of generated shapes (one view each, front-left-above) to check their up and front.

Runs in the service's venv (it uses render.mesh and render.renderer; no TensorFlow in this process):

    PYTHONPATH=. .venv/bin/python tools/infinigen/contact_sheet.py training_shapes/infinigen sheet.png

In the canonical frame a seat seen from polar 70, azimuth 30 stands upright and shows its front (the side
one sits down from) turned a little to the right.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from render.cameras import angles_to_camera
from render.mesh import load_scene
from render.renderer import Renderer


def sheet(root: Path, files: list[str], size_px: int, columns: int, polar_deg: float,
          azimuth_deg: float) -> Image.Image:
    """One labelled render per file (relative to root), on white, in a grid of `columns`."""
    camera = angles_to_camera(polar_deg, azimuth_deg)[None]
    rows = -(-len(files) // columns)
    grid = Image.new("RGB", (columns * size_px, rows * size_px), "white")
    with Renderer(size_px) as renderer:
        for i, name in enumerate(files):
            rgba = renderer.render(load_scene(root / name), camera)[0]
            tile = Image.fromarray(np.where(rgba[..., 3:] > 0, rgba[..., :3], 255).astype(np.uint8))
            ImageDraw.Draw(tile).text((3, 2), Path(name).stem, fill=(200, 0, 0))
            grid.paste(tile, ((i % columns) * size_px, (i // columns) * size_px))
    return grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="folder with manifest.json")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--recipe", default=None, help="only shapes of this recipe")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--size", type=int, default=160, help="tile side in pixels")
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--polar", type=float, default=70.0)
    parser.add_argument("--azimuth", type=float, default=30.0)
    args = parser.parse_args()
    shapes = json.loads((args.root / "manifest.json").read_text())["shapes"]
    files = [s["file"] for s in shapes if args.recipe in (None, s["recipe"])][: args.limit]
    sheet(args.root, files, args.size, args.columns, args.polar, args.azimuth).save(args.out)
    print(f"{len(files)} shapes -> {args.out}")


if __name__ == "__main__":
    main()
