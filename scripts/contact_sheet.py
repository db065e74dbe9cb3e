"""Contact sheet of catalogue seats in the canonical frame: each from its front and its right side.

Look at it to check front (+Z: the side one sits down from, seen in the first view) and up (+Y) of every
model after its recorded rotation. Renders in this process: do not import TensorFlow here.

    python scripts/contact_sheet.py data/catalogue --match packs homedecor --out sheet.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from catalogue.default import load_catalogue
from render.cameras import angles_to_camera
from render.mesh import MeshError, load_scene
from render.renderer import Renderer

VIEWS = angles_to_camera(np.array([70.0, 70.0]), np.array([0.0, 90.0]))  # front, right side


def tile(renderer: Renderer, entry, label_px: int = 12) -> Image.Image:
    """Front and side views of one entry side by side over a white background, with its id below."""
    size = renderer.size_px
    canvas = Image.new("RGB", (2 * size, size + label_px), "white")
    try:
        scene = load_scene(Path(entry.model_path), entry.rotation, entry.size_cm)
        views = renderer.render(scene, VIEWS)
        for i, view in enumerate(views):
            rgb = Image.fromarray(view[..., :3])
            canvas.paste(rgb, (i * size, 0), Image.fromarray(view[..., 3]))
    except MeshError as err:
        print(f"{entry.model_id}: {err}", file=sys.stderr)
    ImageDraw.Draw(canvas).text((2, size), f"{entry.model_id.split('#')[-1][:22]} {entry.seat_kind}", fill="black")
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalogue_dir", type=Path)
    parser.add_argument("--match", nargs="*", default=[], help="keep ids containing one of these")
    parser.add_argument("--out", type=Path, default=Path("contact_sheet.png"))
    parser.add_argument("--size-px", type=int, default=112)
    parser.add_argument("--columns", type=int, default=6)
    args = parser.parse_args()
    entries = [e for e in load_catalogue(args.catalogue_dir)
               if not args.match or any(m in e.model_id for m in args.match)]
    with Renderer(args.size_px) as renderer:
        tiles = [tile(renderer, e) for e in entries]
    width, height = tiles[0].size
    rows = -(-len(tiles) // args.columns)
    sheet = Image.new("RGB", (args.columns * width, rows * height), "grey")
    for i, image in enumerate(tiles):
        sheet.paste(image, ((i % args.columns) * width, (i // args.columns) * height))
    sheet.save(args.out)
    print(f"{len(tiles)} models -> {args.out}")


if __name__ == "__main__":
    main()
