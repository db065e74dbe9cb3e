"""Seat detector: the npm weights (pinned, sha256-checked), the real model on a real photo with two seats,
thresholds and class-agnostic NMS."""

from __future__ import annotations

import hashlib

import pytest
from PIL import Image

from models import detector, npm
from models.detector import (
    FILES_SHA256,
    Detection,
    DetectorError,
    SeatDetector,
    box_iou,
    fetch_detector_model,
    read_labels,
    suppress,
)
from tests.conftest import TWO_SEATS_PHOTO

# Drawn by hand on tests/data/interior_two_seats.jpg (480 x 480): the office chair and the armchair.
OFFICE_CHAIR = (40.0, 272.0, 208.0, 445.0)
ARMCHAIR = (320.0, 232.0, 479.0, 456.0)


def test_fetch_checks_and_is_idempotent(detector_dir, monkeypatch):
    for name, digest in FILES_SHA256.items():
        assert hashlib.sha256((detector_dir / name).read_bytes()).hexdigest() == digest
    monkeypatch.setattr(npm.shutil, "which", lambda name: None)  # a second call must not need npm
    assert fetch_detector_model(detector_dir) == detector_dir
    assert sorted(p.name for p in detector_dir.iterdir()) == sorted(FILES_SHA256)


def test_missing_npm_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(npm.shutil, "which", lambda name: None)
    with pytest.raises(DetectorError, match="npm"):
        fetch_detector_model(tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_changed_file_is_fetched_again(detector_dir, tmp_path):
    for name in FILES_SHA256:
        (tmp_path / name).write_bytes((detector_dir / name).read_bytes())
    (tmp_path / detector.LABELS_FILE).write_text("0  chair\n")  # tampered
    fetch_detector_model(tmp_path)
    assert hashlib.sha256((tmp_path / detector.LABELS_FILE).read_bytes()).hexdigest() == \
        FILES_SHA256[detector.LABELS_FILE]


def test_labels_map_the_model_classes(detector_dir, seat_detector):
    labels = read_labels(detector_dir / detector.LABELS_FILE)
    assert labels[0] == "person" and labels[61] == "chair" and labels[62] == "couch" and labels[14] == "bench"
    assert sorted(seat_detector.seat_classes.values()) == ["bench", "chair", "couch"]


def test_finds_both_seats_in_a_real_photo(seat_detector):
    with Image.open(TWO_SEATS_PHOTO) as photo:
        found = seat_detector.detect(photo.convert("RGB"))
    assert len(found) == 2, found
    for truth in (OFFICE_CHAIR, ARMCHAIR):
        best = max(found, key=lambda d: box_iou(d.box_px, truth))
        assert box_iou(best.box_px, truth) > 0.7, (truth, found)
        assert best.label == "chair" and 0.25 <= best.score <= 1
    assert found[0].score >= found[1].score


def test_boxes_are_in_pixels_of_the_image_given(seat_detector):
    with Image.open(TWO_SEATS_PHOTO) as photo:
        half = photo.convert("RGB").resize((240, 240))
    found = seat_detector.detect(half)
    armchair = max(found, key=lambda d: box_iou(d.box_px, tuple(v / 2 for v in ARMCHAIR)))
    assert box_iou(armchair.box_px, tuple(v / 2 for v in ARMCHAIR)) > 0.7


def test_no_seat_in_a_photo_without_one(seat_detector):
    with Image.open(TWO_SEATS_PHOTO) as photo:
        wall = photo.convert("RGB").crop((60, 0, 330, 200))  # the television and the wall
    assert seat_detector.detect(wall) == []
    assert seat_detector.detect(Image.new("RGB", (300, 200), (255, 255, 255))) == []


def test_thresholds_apply_per_label(detector_dir):
    strict = SeatDetector(detector_dir, score_thresholds={"chair": 0.9, "couch": 0.9, "bench": 0.9})
    with Image.open(TWO_SEATS_PHOTO) as photo:
        assert [d.label for d in strict.detect(photo.convert("RGB"))] == []


def test_tiny_images_are_refused(seat_detector):
    with pytest.raises(DetectorError, match="too small"):
        seat_detector.detect(Image.new("RGB", (1, 40)))


def test_nms_drops_a_couch_on_the_same_seat_as_a_chair():
    chair = Detection((0.0, 0.0, 100.0, 100.0), "chair", 0.8)
    couch = Detection((5.0, 0.0, 105.0, 100.0), "couch", 0.6)
    other = Detection((200.0, 0.0, 300.0, 100.0), "chair", 0.5)
    assert suppress([couch, other, chair], iou=0.3) == [chair, other]
    assert suppress([couch, other, chair], iou=1.0) == [chair, couch, other]
    assert box_iou(chair.box_px, couch.box_px) == pytest.approx(95 * 100 / (2 * 100 * 100 - 95 * 100))
    assert box_iou(chair.box_px, (0.0, 0.0, 0.0, 0.0)) == 0.0


def test_a_folder_without_weights_is_a_clear_error(tmp_path):
    with pytest.raises(DetectorError, match="photo2cad setup"):
        SeatDetector(tmp_path)
