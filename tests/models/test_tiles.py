"""Tiled detection: the windows' geometry, dropping boxes cut by a window, and the real detector finding a seat
that is small in a wide photo only when tiled."""

from __future__ import annotations

import pytest
from PIL import Image

from models import tiles
from models.detector import SeatDetector, box_iou
from tests.conftest import TWO_SEATS_PHOTO
from tests.models.test_detector import ARMCHAIR


def _inside(window, width, height) -> bool:
    return 0 <= window[0] < window[2] <= width and 0 <= window[1] < window[3] <= height


@pytest.mark.parametrize("size", [(1280, 853), (853, 1280), (1280, 427), (640, 480), (300, 300), (33, 2000)])
def test_windows_start_with_the_image_and_stay_inside_it(size):
    width, height = size
    found = tiles.windows(width, height)
    assert found[0] == (0, 0, width, height)
    assert all(_inside(w, width, height) for w in found), found
    assert len(set(found)) == len(found)


def test_squares_cover_the_longer_side_with_overlaps():
    width, height = 1280, 427
    squares = [w for w in tiles.windows(width, height, grid=0)[1:]]
    assert all(w[2] - w[0] == w[3] - w[1] == height for w in squares)
    assert squares[0][0] == 0 and squares[-1][2] == width
    assert all(b[0] < a[2] for a, b in zip(squares, squares[1:]))  # consecutive squares overlap
    assert len(squares) == 4  # ceil(1280 / 427) + 1
    tall = tiles.windows(427, 1280, grid=0)[1:]
    assert [(w[1], w[3]) for w in tall] == [(w[0], w[2]) for w in squares]


def test_a_square_image_gets_the_grid_only():
    found = tiles.windows(600, 600)
    assert found[1:] == [(0, 0, 360, 360), (0, 240, 360, 600), (240, 0, 600, 360), (240, 240, 600, 600)]
    assert tiles.windows(600, 600, grid=0) == [(0, 0, 600, 600)]


def test_boxes_cut_by_an_inner_edge_are_recognised():
    width, height, window = 1000, 600, (400.0, 0.0, 1000.0, 600.0)  # its left edge is inside the image
    assert tiles.to_image((10.0, 20.0, 110.0, 220.0), window) == (410.0, 20.0, 510.0, 220.0)
    assert not tiles.cut_by_window((410.0, 20.0, 510.0, 220.0), window, width, height)
    assert tiles.cut_by_window((401.0, 20.0, 510.0, 220.0), window, width, height)  # touches x = 400
    assert not tiles.cut_by_window((700.0, 0.0, 1000.0, 600.0), window, width, height)  # image edges only
    whole = (0.0, 0.0, float(width), float(height))
    assert not tiles.cut_by_window((0.0, 0.0, 1000.0, 600.0), whole, width, height)


def _small_seats_in_a_wide_room() -> tuple[Image.Image, tuple[float, ...]]:
    """The two-seat photo shrunk to 200 px on a 1600 x 600 plain wall; and where its armchair is."""
    with Image.open(TWO_SEATS_PHOTO) as photo:
        small = photo.convert("RGB").resize((200, 200))
    canvas, left, top = Image.new("RGB", (1600, 600), (200, 190, 180)), 950, 380
    canvas.paste(small, (left, top))
    scale = 200 / 480
    return canvas, (left + ARMCHAIR[0] * scale, top + ARMCHAIR[1] * scale,
                    left + ARMCHAIR[2] * scale, top + ARMCHAIR[3] * scale)


def test_a_small_seat_in_a_wide_photo_is_found_only_when_tiled(detector_dir, seat_detector):
    canvas, armchair = _small_seats_in_a_wide_room()
    assert seat_detector.tiled
    whole_only = SeatDetector(detector_dir, tiled=False)
    assert whole_only.detect(canvas) == []
    found = seat_detector.detect(canvas)
    assert found and max(box_iou(d.box_px, armchair) for d in found) > 0.5, found
    assert all(d.label in ("chair", "couch") for d in found)


def test_merging_windows_shifts_boxes_and_drops_cut_ones():
    from models.detector import Detection, merge_windows

    whole, right = (0.0, 0.0, 1000.0, 600.0), (400.0, 0.0, 1000.0, 600.0)
    inside = Detection((100.0, 50.0, 300.0, 400.0), "chair", 0.6)  # window pixels
    cut = Detection((0.0, 50.0, 150.0, 400.0), "couch", 0.9)  # touches the window's left edge, x = 400
    seen_whole = Detection((380.0, 50.0, 550.0, 400.0), "couch", 0.5)
    merged = merge_windows([(whole, [seen_whole]), (right, [inside, cut])], 1000, 600)
    assert merged == [Detection((500.0, 50.0, 700.0, 400.0), "chair", 0.6), seen_whole]


def test_windows_are_searched_only_when_no_seat_is_large():
    assert tiles.worth_tiling([], 1000, 500)
    assert tiles.worth_tiling([(0.0, 0.0, 300.0, 300.0)], 1000, 500)  # 0.18 of the image
    assert not tiles.worth_tiling([(0.0, 0.0, 300.0, 300.0), (400.0, 0.0, 800.0, 500.0)], 1000, 500)


def test_a_photo_of_one_large_seat_costs_one_detector_run(seat_detector, monkeypatch):
    with Image.open(TWO_SEATS_PHOTO) as photo:
        armchair = photo.convert("RGB").crop((280, 180, 480, 480))  # the armchair fills it
    calls = []
    raw = seat_detector.raw_detections
    monkeypatch.setattr(seat_detector, "raw_detections", lambda image: calls.append(image.size) or raw(image))
    found = seat_detector.detect(armchair)
    assert found and calls == [armchair.size]
    calls.clear()
    canvas, _ = _small_seats_in_a_wide_room()
    seat_detector.detect(canvas)
    assert len(calls) == len(tiles.windows(*canvas.size)) > 1
