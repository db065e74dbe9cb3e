"""Tiled detection: the windows a photo is searched for seats in, and which of a window's boxes to keep.

The detector sees its input stretched to 300 x 300 px, so a seat that fills a tenth of a wide room photo is
a few dozen pixels to it, and missed. Searching windows as well as the whole image finds it (as SAHI, slicing
aided hyper inference, does). The windows, in pixels of the image:
- the whole image;
- squares of side the shorter side along the longer side (none when the image is square within 5 %): so many
  that consecutive ones overlap (ceil(long / short) + 1, evenly spaced), each seen undistorted;
- a GRID x GRID grid of windows TILE_FRACTION of the width and height, evenly spaced from corner to corner.
A box from a window other than the whole image is dropped when it touches one of the window's inner edges
(an edge that is not the image's): it is a cut seat, which another window sees whole.
Windows are searched only when the whole image shows no seat covering at least TILE_BELOW_AREA of it
(`worth_tiling`): a photo taken of one seat costs one detector run, a room with small seats about 7.
Chosen on the real-photo development split (bench/bench_detector_tiles.py, README "Seat detection"): among
grid fractions 0.5-0.7, 2 x 2 and 3 x 3 grids, with and without the squares, this one found the most
labelled seats and put the largest seat first most often; tiling only below 0.2 kept nearly all of that
(dev recall 0.71 against 0.72, main seat first the same) and tiles three photos in four there.
"""

from __future__ import annotations

import math

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) pixels

TILE_FRACTION = 0.6
GRID = 2
SQUARE_SLACK = 1.05  # an image whose longer side is within 5 % of its shorter one gets no squares
EDGE_PX = 2.0  # a box this close to a window's inner edge touches it
TILE_BELOW_AREA = 0.2  # tile when the whole image's largest seat covers less of it (chosen with the windows)


def windows(width: int, height: int, grid: int = GRID, fraction: float = TILE_FRACTION,
            squares: bool = True) -> list[Box]:
    """The whole image first, then the squares (unless not `squares`), then the grid (module docstring);
    integer pixel boxes. grid 0 or 1: no grid."""
    found = [(0.0, 0.0, float(width), float(height))]
    found += (_squares(width, height) if squares else []) + _grid(width, height, grid, fraction)
    unique: list[Box] = []
    for window in found:
        if window not in unique and window[2] > window[0] and window[3] > window[1]:
            unique.append(window)
    return unique


def _squares(width: int, height: int) -> list[Box]:
    short, long = min(width, height), max(width, height)
    if long <= short * SQUARE_SLACK:
        return []
    count = math.ceil(long / short) + 1
    offsets = [round(i * (long - short) / (count - 1)) for i in range(count)]
    return [(float(o), 0.0, float(o + short), float(short)) if width >= height
            else (0.0, float(o), float(short), float(o + short)) for o in offsets]


def _grid(width: int, height: int, grid: int, fraction: float) -> list[Box]:
    if grid < 2:
        return []
    tile_w, tile_h = width * fraction, height * fraction
    starts_x = [i * (width - tile_w) / (grid - 1) for i in range(grid)]
    starts_y = [i * (height - tile_h) / (grid - 1) for i in range(grid)]
    return [(float(round(x)), float(round(y)), float(round(x + tile_w)), float(round(y + tile_h)))
            for x in starts_x for y in starts_y]


def worth_tiling(boxes: list[Box], width: int, height: int, below_area: float = TILE_BELOW_AREA) -> bool:
    """Whether to search windows: no box (seats the whole image found, pixels) covers `below_area` of it."""
    area = float(width * height)
    return all((b[2] - b[0]) * (b[3] - b[1]) < below_area * area for b in boxes)


def to_image(box: Box, window: Box) -> Box:
    """A box in pixels of the window's crop -> pixels of the whole image."""
    return box[0] + window[0], box[1] + window[1], box[2] + window[0], box[3] + window[1]


def cut_by_window(box: Box, window: Box, width: int, height: int) -> bool:
    """Whether an image-pixel box touches an edge of the window that is not an edge of the image."""
    return ((window[0] > 0 and box[0] <= window[0] + EDGE_PX)
            or (window[1] > 0 and box[1] <= window[1] + EDGE_PX)
            or (window[2] < width and box[2] >= window[2] - EDGE_PX)
            or (window[3] < height and box[3] >= window[3] - EDGE_PX))
