"""Perspective crops: each detected seat seen by a virtual camera turned onto it, instead of cut out of the photo.

Run: PHOTO2CAD_DATA_DIR=$PWD/data .venv/bin/python -m bench.perspective_crop [--photos data/realphotos]
     [--focals 20,28,40] [--out bench/results/perspective_crop.json]
The service searches a seat as the square of the photo around its box (index.scene.square_crop). Off the
photo's centre that square is a slanted cut of a pinhole image: a wide-angle interior stretches its corner
seats outwards by up to 1 / cos(angle off the axis), while the index's views are look-at renders with the seat
on the optical axis. A perspective crop (3D human pose estimation's "virtual camera") turns a camera about the
photo's centre of projection until it looks through the centre of the same square, with no roll, and resamples
the photo through the homography K R K_v^-1, so that the seat is seen as a camera aimed at it would see it.
Needs the photo's focal length: the real photos carry no EXIF, so each focal (35 mm equivalent, mm; the
service's default for phones is 28, index.oblique) is a variant. Every variant answers the real-photo set
through the service's path (evaluation.real_photo_report.photo_answerer), only the crop changes; "shipped" is
the square crop. Figures per split as in bench.crop_margin; choices on dev, test reports.
"""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.service_path import machine, number_list, real_photo_parser, require_photos, service_path
from index import scene
from index.oblique import focal_px

KEYS = ("kind", "view_45", "flips", "seat_kind", "seat_view_45", "seat_flips")


def turned_onto(point_px: tuple[float, float], image_size: tuple[int, int], focal: float) -> np.ndarray:
    """(3, 3) rotation whose columns are the virtual camera's x, y, z axes in the photo camera's frame (pixel
    frame: x right, y down, z forward; principal point at the image centre): z through pixel point_px, x kept
    horizontal in the photo's frame (no roll)."""
    z = np.array([point_px[0] - image_size[0] / 2, point_px[1] - image_size[1] / 2, focal], np.float64)
    z /= np.linalg.norm(z)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def perspective_crop(image: Image.Image, box_px: tuple[float, float, float, float], size_px: int,
                     margin: float = scene.CROP_MARGIN, focal_35mm_mm: float | None = None) -> np.ndarray:
    """The window index.scene.square_crop would cut (same centre and extent, moved inside the photo the same
    way), seen by a virtual camera turned to look through its centre (module docstring); what falls outside the
    photo is white. focal_35mm_mm: the photo's focal length (None: index.oblique's default).
    Returns (size_px, size_px, 3) uint8 RGB."""
    width, height = image.size
    focal = focal_px(image.size, focal_35mm_mm)
    left, top, side = scene.crop_window(image.size, box_px, margin)
    centre = (left + side / 2, top + side / 2)
    rotation = turned_onto(centre, image.size, focal)
    half = _half_extent(rotation, (left, top, side), image.size, focal)
    scale = min(1.0, size_px / (2 * half * focal) * 1.5)  # shrink first: the warp samples without a filter
    if scale < 1.0:
        image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR)
    f = focal * image.width / width
    photo_k = np.array([[f, 0, image.width / 2], [0, f, image.height / 2], [0, 0, 1]])
    virtual_f = size_px / 2 / half
    inverse_k = np.array([[1 / virtual_f, 0, -size_px / 2 / virtual_f], [0, 1 / virtual_f, -size_px / 2 / virtual_f],
                          [0, 0, 1]])
    homography = photo_k @ rotation @ inverse_k  # output pixel -> photo pixel
    homography /= homography[2, 2]
    warped = image.convert("RGB").transform((size_px, size_px), Image.PERSPECTIVE, tuple(homography.ravel()[:8]),
                                            resample=Image.BILINEAR, fillcolor=(255, 255, 255))
    return np.asarray(warped, dtype=np.uint8)


def _half_extent(rotation: np.ndarray, window: tuple[int, int, int], image_size: tuple[int, int],
                 focal: float) -> float:
    """Half the virtual image's side in tangent units: the mean of the window's half-widths across and along,
    measured at the midpoints of its sides."""
    left, top, side = window
    mid_x, mid_y = left + side / 2, top + side / 2
    points = np.array([(left, mid_y), (left + side, mid_y), (mid_x, top), (mid_x, top + side)], np.float64)
    rays = np.column_stack([points[:, 0] - image_size[0] / 2, points[:, 1] - image_size[1] / 2,
                            np.full(4, focal)]) @ rotation
    tangents = np.abs(rays[:, :2] / rays[:, 2:3])
    return float(max((tangents[0, 0] + tangents[1, 0]) / 2, (tangents[2, 1] + tangents[3, 1]) / 2, 1e-6))


def run(photos_dir: Path, focals: list[float]) -> dict:
    from evaluation.real_photo_eval import evaluate_answerer, headline
    from evaluation.real_photo_report import photo_answerer
    from evaluation.real_photo_set import load_manifest

    parts = service_path()
    searcher, detector, photos, facts = parts.searcher(), parts.detector, load_manifest(), machine()
    shipped, results = scene.square_crop, {}
    try:
        for name, crop in [("shipped", shipped)] + [
                (f"{f:g} mm", functools.partial(perspective_crop, focal_35mm_mm=f)) for f in focals]:
            scene.square_crop = crop
            figures = headline(evaluate_answerer(photo_answerer(searcher, detector), photos, photos_dir, boxes=True))
            results[name] = {split: {k: figures[split][k] for k in KEYS} for split in ("dev", "test", "all")}
            print(name, results[name], flush=True)
    finally:
        scene.square_crop = shipped
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": parts.embedder.info.name,
            "machine": facts, "photos": len(photos), "results": results,
            "load_after": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = real_photo_parser(__doc__, "bench/results/perspective_crop.json")
    parser.add_argument("--focals", default="20,28,40", help="35 mm-equivalent focal lengths (mm), comma-separated")
    args = parser.parse_args()
    focals = number_list(parser, "--focals", args.focals, lambda f: 5 <= f <= 1000, "in [5, 1000] (mm)")
    require_photos(parser, args.photos)
    args.out.write_text(json.dumps(run(args.photos, focals), indent=1) + "\n")


if __name__ == "__main__":
    main()
