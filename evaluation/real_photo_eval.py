"""Accuracy on real photographs: detection recall, seat kind, coarse view and flips, per answering mode.

An answerer turns a photo into seat predictions, main seat first: the whole image as one seat (the
baseline), or one per detected seat (index.scene.answer_photo, the detector branch's per-seat answers).
Two levels are scored:
- main seat (every answerer): the first prediction against the photo's largest labelled seat: seat kind,
  coarse view within VIEW_TOLERANCE_DEG of azimuth, flips beyond FLIP_DEG;
- per seat (answerers with boxes): each labelled seat is matched to the unused prediction of highest IoU
  >= MATCH_IOU (greedy, largest seats first); recall = matched / labelled; kind and view over matched;
  main_first: the share of photos whose first prediction is the main seat (IoU >= MATCH_IOU), so that a
  main-seat figure is about that seat and not about another one the answerer put first.
The view is compared by azimuth only (the labels are 45-degree sectors; elevation is coarser still), modulo
180 deg for seats whose front and back look alike; seats labelled "any" are left out of view figures.
Seat kind is also given per labelled kind of the main seat, with what was answered instead.
Error bars (main seat, answers that state them): the answer's stated 68 % and 90 % bounds (degrees of
camera angle) hold when the azimuth error is at most the bound plus SECTOR_HALF_DEG, the labels' own
quantisation; an azimuth error is never below the camera-angle error at equal elevation, so this is a strict
test for views from above. A confident flip is a flip whose stated 68 % bound is under VIEW_TOLERANCE_DEG:
the answer the user is told to trust.
Seat-kind probabilities: does the stated probability of the answered kind match how often it is right?
Over seats with a stated probability: accuracy, mean stated probability, the expected calibration error (ECE:
|accuracy - mean stated| per KIND_BINS equal-width bin of stated probability, weighted by the bin's share), and
the answers stated at CONFIDENT_KIND or more with how often they are right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from evaluation.real_photo_set import LabelledSeat, RealPhoto
from render.cameras import camera_to_angles

MATCH_IOU = 0.5
VIEW_TOLERANCE_DEG = 45.0
FLIP_DEG = 120.0
SECTOR_HALF_DEG = 22.5  # half of a labelled 45-degree azimuth sector
KIND_BINS = 5
CONFIDENT_KIND = 0.9


@dataclass(frozen=True)
class SeatPrediction:
    """One answered seat: box (x0, y0, x1, y1) px of the photo after EXIF rotation, seat kind (None when
    unknown), the best match's camera (3,) in its model's canonical frame (None without a match), the
    answer's stated error bounds in degrees (68 % and 90 %; None when not stated) and the stated probability
    of its seat kind (None when not stated)."""

    box: tuple[float, float, float, float]
    kind: str | None
    camera: tuple[float, float, float] | None
    error_68_deg: float | None = None
    error_90_deg: float | None = None
    kind_probability: float | None = None

    @property
    def azimuth_deg(self) -> float | None:
        return None if self.camera is None else float(camera_to_angles(np.asarray(self.camera))[1])


Answerer = Callable[[bytes], list[SeatPrediction]]  # photo file bytes -> seats, main first (boxes after EXIF)


def azimuth_error_deg(labelled_deg: float, estimated_deg: float, symmetry: str = "none") -> float:
    """Smallest angle between two azimuths in degrees, in [0, 180] ([0, 90] for symmetry "180")."""
    diff = abs((estimated_deg - labelled_deg + 180.0) % 360.0 - 180.0)
    return min(diff, 180.0 - diff) if symmetry == "180" else diff


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes (0 when they do not overlap)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return float(w * h / union) if union > 0 else 0.0


def match_seats(seats: tuple[LabelledSeat, ...], predictions: list[SeatPrediction],
                min_iou: float = MATCH_IOU) -> list[SeatPrediction | None]:
    """Per labelled seat, its matched prediction (None when none reaches min_iou); each prediction is
    used once, largest labelled seats first."""
    matched: list[SeatPrediction | None] = [None] * len(seats)
    free = list(range(len(predictions)))
    for i in sorted(range(len(seats)), key=lambda i: -seats[i].area):
        ious = [box_iou(seats[i].box, predictions[j].box) for j in free]
        if ious and max(ious) >= min_iou:
            matched[i] = predictions[free.pop(int(np.argmax(ious)))]
    return matched


def score_seat(seat: LabelledSeat, prediction: SeatPrediction | None) -> dict:
    """One row: kind_right, and when the view is scored, view_error_deg (None without an answer)."""
    row = {"kind": seat.kind, "predicted_kind": prediction.kind if prediction else None,
           "kind_right": bool(prediction and prediction.kind == seat.kind), "view": seat.view,
           "kind_probability": prediction.kind_probability if prediction else None}
    if seat.azimuth_deg is not None:
        estimated = prediction.azimuth_deg if prediction else None
        row["view_error_deg"] = (None if estimated is None
                                 else azimuth_error_deg(seat.azimuth_deg, estimated, seat.symmetry))
        row["stated_deg"] = (prediction.error_68_deg, prediction.error_90_deg) if prediction else (None, None)
    return row


def wilson_interval(fraction: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95 % for z = 1.96) of a proportion `fraction` of n trials: (low, high);
    (nan, nan) for n = 0. Honest at the small counts of the real-photo set, unlike p +- z sqrt(p(1-p)/n)."""
    if n == 0:
        return float("nan"), float("nan")
    centre = (fraction + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(fraction * (1 - fraction) / n + z * z / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def view_summary(errors: list[float | None]) -> dict:
    """Fraction within VIEW_TOLERANCE_DEG and fraction of flips (> FLIP_DEG) over scored seats; a missing
    answer counts as neither right nor a flip."""
    if not errors:
        return {"n": 0, "within_45": float("nan"), "flips": float("nan")}
    right = [e is not None and e <= VIEW_TOLERANCE_DEG for e in errors]
    flips = [e is not None and e > FLIP_DEG for e in errors]
    return {"n": len(errors), "within_45": float(np.mean(right)), "flips": float(np.mean(flips))}


def score_photos(photos: list[RealPhoto], predictions: list[list[SeatPrediction]], boxes: bool) -> dict:
    """Main-seat figures for every answerer; per-seat figures (recall, kind, view) when `boxes`."""
    main = [score_seat(p.main_seat, preds[0] if preds else None) for p, preds in zip(photos, predictions)]
    result = {"images": len(photos), "main": {**_summary(main), "error_bars": bar_summary(main),
                                              "by_kind": kind_summary(main),
                                              "kind_probabilities": kind_probability_summary(main)}}
    if boxes:
        rows, recalled = [], []
        first = [bool(preds) and box_iou(p.main_seat.box, preds[0].box) >= MATCH_IOU
                 for p, preds in zip(photos, predictions)]
        for photo, preds in zip(photos, predictions):
            matched = match_seats(photo.seats, preds)
            recalled += [m is not None for m in matched]
            rows += [score_seat(s, m) for s, m in zip(photo.seats, matched) if m is not None]
        result["seats"] = {"labelled": len(recalled), "recall": float(np.mean(recalled)) if recalled
                           else float("nan"), "main_first": float(np.mean(first)) if first else float("nan"),
                           **_summary(rows), "kind_probabilities": kind_probability_summary(rows)}
    return result


def headline(result: dict) -> dict:
    """evaluate_answerer's result (with boxes) -> per split (all, dev, test) the figures the benches compare:
    main-seat kind, view within 45 deg and flips; recall, main seat first; per-seat kind, view and flips."""
    out = {}
    for split in ("all", "dev", "test"):
        main, seats = result[split]["main"], result[split]["seats"]
        figures = {"kind": main["kind"], "view_45": main["view"]["within_45"], "flips": main["view"]["flips"],
                   "recall": seats["recall"], "main_first": seats["main_first"], "seat_kind": seats["kind"],
                   "seat_view_45": seats["view"]["within_45"], "seat_flips": seats["view"]["flips"]}
        out[split] = {name: round(float(value), 3) for name, value in figures.items()}
    return out


def kind_summary(rows: list[dict]) -> dict:
    """Seat kind per labelled kind over rows (score_seat's): {kind: {"n": seats, "right": right answers,
    "answered": {predicted kind: count}}}, kinds sorted by name."""
    summary: dict = {}
    for row in sorted(rows, key=lambda r: r["kind"]):
        entry = summary.setdefault(row["kind"], {"n": 0, "right": 0, "answered": {}})
        entry["n"] += 1
        entry["right"] += int(row["kind_right"])
        predicted = str(row["predicted_kind"])
        entry["answered"][predicted] = entry["answered"].get(predicted, 0) + 1
    return summary


def bar_summary(rows: list[dict]) -> dict:
    """Over rows with a scored view and stated bounds (score_seat's): n, the fractions whose azimuth error
    is within the stated 68 % and 90 % bounds plus SECTOR_HALF_DEG, the median stated 68 % bound, and the
    fraction of confident flips (module docstring)."""
    stated = [(r["view_error_deg"], *r["stated_deg"]) for r in rows
              if r.get("view_error_deg") is not None and None not in r["stated_deg"]]
    if not stated:
        return {"n": 0}
    errors, b68, b90 = (np.array(column, float) for column in zip(*stated))
    return {"n": len(errors), "within_68": float(np.mean(errors <= b68 + SECTOR_HALF_DEG)),
            "within_90": float(np.mean(errors <= b90 + SECTOR_HALF_DEG)),
            "median_68_deg": float(np.median(b68)),
            "confident_flips": float(np.mean((errors > FLIP_DEG) & (b68 < VIEW_TOLERANCE_DEG)))}


def kind_probability_summary(rows: list[dict]) -> dict:
    """Over rows (score_seat's) with a stated seat-kind probability: n, right (accuracy), stated (mean stated
    probability), ece, confident (share stated at CONFIDENT_KIND or more) and confident_right (their accuracy,
    nan when none); module docstring."""
    stated = [(r["kind_probability"], r["kind_right"]) for r in rows if r.get("kind_probability") is not None]
    if not stated:
        return {"n": 0}
    probability, right = (np.array(column, float) for column in zip(*stated))
    bins = np.minimum((probability * KIND_BINS).astype(int), KIND_BINS - 1)
    ece = sum(np.mean(bins == b) * abs(right[bins == b].mean() - probability[bins == b].mean())
              for b in np.unique(bins))
    confident = probability >= CONFIDENT_KIND
    return {"n": len(right), "right": float(right.mean()), "stated": float(probability.mean()), "ece": float(ece),
            "confident": float(confident.mean()),
            "confident_right": float(right[confident].mean()) if confident.any() else float("nan")}


def _summary(rows: list[dict]) -> dict:
    kind = float(np.mean([r["kind_right"] for r in rows])) if rows else float("nan")
    return {"n": len(rows), "kind": kind, "view": view_summary([r["view_error_deg"] for r in rows
                                                                 if "view_error_deg" in r])}


def photo_bytes(images_dir: Path, photo: RealPhoto) -> bytes:
    """The photo file's bytes; checks its size after EXIF rotation (its labels' pixel frame) against the
    manifest."""
    data = (Path(images_dir) / photo.file).read_bytes()
    with Image.open(BytesIO(data)) as image:
        size = ImageOps.exif_transpose(image).size
    if size != (photo.width, photo.height):
        raise ValueError(f"{photo.file} is {size}, the manifest says {(photo.width, photo.height)}")
    return data


def evaluate_answerer(answerer: Answerer, photos: list[RealPhoto], images_dir: Path, boxes: bool) -> dict:
    """Score one answerer on every photo, overall and per split (dev/test); per-photo answers included."""
    predictions = [answerer(photo_bytes(images_dir, p)) for p in photos]
    result = {"all": score_photos(photos, predictions, boxes)}
    for split in sorted({p.split for p in photos}):
        keep = [i for i, p in enumerate(photos) if p.split == split]
        result[split] = score_photos([photos[i] for i in keep], [predictions[i] for i in keep], boxes)
    result["per_photo"] = [{"id": p.id, "main_kind": p.kind, "predicted": [
        {"box": list(s.box), "kind": s.kind, "azimuth_deg": s.azimuth_deg} for s in preds[:6]]}
        for p, preds in zip(photos, predictions)]
    return result
