"""Answers for a whole photo, seat by seat: detect the seats, crop each with a margin, make it square,
search it; the main seat's answer is the photo's answer.

Main seat: the detection with the largest score x box area: a big, confident seat is what the photo was
taken of. (Until 2026-12-03 also x centrality, 1 at the photo's centre to 0.5 at a corner; on the real-photo
dev split dropping it put the largest seat first in 0.86 of the photos instead of 0.81 and halved the main
seat's flips, 0.08 -> 0.04: bench/main_seat_order.py, EVALUATION.md "Which seat is answered first".)
Seat kind: the detector's label is evidence (a couch is rarely a chair). The searcher's probabilities
p(kind | crop) are multiplied by p(label | kind) from LABEL_GIVEN_KIND and renormalised (Bayes, the
detector's answer taken as independent of the embedding). The table is set by hand from what COCO's
annotators call chair, couch and bench (COCO has no seat-kind labels to fit it on); kinds outside it get
a flat 1/3. So are the cues of ImageNet's classifier on the crop when the searcher has one (index.kind_cues:
a desk around an office chair, a studio couch). Last, the probabilities are softened by the searcher's
`kind_temperature` (index.kind_calibration), so that on photographs they mean what they say.
No seat found: `detected` is False, `objects` is empty and the answer is the whole image's, its seat-kind
probabilities weighed by ImageNet's cues on the whole image and softened by the searcher's
`whole_image_kind_temperature`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from index.kind_calibration import tempered
from index.kind_cues import with_cue_evidence
from index.oblique import axis_camera, focal_px
from index.search import SearchAnswer, Searcher
from models.detector import Detection, SeatDetector
from models.photo import Photo, square_image

# Of the box's longer side, added on each side: the seat's longer side then fills 1 / 1.32 = 0.76 of the crop,
# the median over 400 views of the default index (0.59-0.85 from the 10th to the 90th percentile).
CROP_MARGIN = 0.16
MAX_SEATS = 6  # most seats answered per photo (each costs one embedding and one search)
LABEL_GIVEN_KIND = {  # p(detector label | seat kind); rows sum to 1. Hand-set: the table fitted on the real
    # photos' dev split (bench/fit_label_table.py) gained nothing on the test split and, from <= 10 seats a
    # kind, made rare labels near-vetoes (sofa seen as "bench": 0.018), so it was measured, not adopted.
    "chair": {"chair": 0.90, "couch": 0.05, "bench": 0.05},
    "armchair": {"chair": 0.55, "couch": 0.40, "bench": 0.05},
    "sofa": {"chair": 0.10, "couch": 0.85, "bench": 0.05},
    "stool": {"chair": 0.80, "couch": 0.02, "bench": 0.18},
    "bench": {"chair": 0.15, "couch": 0.05, "bench": 0.80},
    "office_chair": {"chair": 0.95, "couch": 0.03, "bench": 0.02},
    "lounger": {"chair": 0.50, "couch": 0.30, "bench": 0.20},
}


@dataclass(frozen=True)
class SeatAnswer:
    """One detected seat: box_px (x0, y0, x1, y1) pixels of the uploaded image after EXIF rotation;
    the detector's label and score; the search answer for its crop and the crop's query vector (d,);
    axis_camera (3,): the best match's camera turned from the ray onto the optical axis (index.oblique),
    None without matches."""

    box_px: tuple[float, float, float, float]
    label: str
    score: float
    answer: SearchAnswer
    vector: np.ndarray
    axis_camera: np.ndarray | None = None


@dataclass(frozen=True)
class PhotoAnswer:
    """detected: at least one seat was found; objects: the seats, main seat first (empty when none);
    answer / vector: the main seat's (or the whole image's when none was found)."""

    detected: bool
    objects: list[SeatAnswer]
    answer: SearchAnswer
    vector: np.ndarray


def answer_photo(photo: Photo, detector: SeatDetector | None, searcher: Searcher, top_k: int = 5,
                 true_camera: np.ndarray | None = None, max_seats: int = MAX_SEATS) -> PhotoAnswer:
    """Detect, crop, search each seat (one batched embedding, with the crops' mirror images when the
    searcher reads its viewpoint head on both), main seat first; the whole image when
    detector is None or finds no seat. true_camera: (3,) or None, gives each match's angular_error_deg."""
    seats = detector.detect(photo.image) if detector is not None else []
    return answer_seats(photo, seats, searcher, top_k, true_camera, max_seats)


def answer_seats(photo: Photo, seats: list[Detection], searcher: Searcher, top_k: int = 5,
                 true_camera: np.ndarray | None = None, max_seats: int = MAX_SEATS) -> PhotoAnswer:
    """answer_photo for detections already made (boxes in photo.image pixels)."""
    seats = main_first(seats, photo.image.size)[:max_seats]
    size_px = searcher.embedder.info.input_size_px
    if not seats:
        image = square_image(photo.image, size_px)[None]
        vectors, mirrored = searcher.embed_with_mirror(image)
        (answer,) = searcher.search_embeddings(vectors, top_k, true_camera, mirrored)
        (cues,) = searcher.kind_cues(image)
        answer = replace(answer, categories=tempered(_with_cues(searcher, answer.categories, cues),
                                                     searcher.whole_image_kind_temperature))
        return PhotoAnswer(False, [], answer, vectors[0])
    crops = np.stack([square_crop(photo.image, s.box_px, size_px) for s in seats])
    vectors, mirrored = searcher.embed_with_mirror(crops)
    answers = searcher.search_embeddings(vectors, top_k, true_camera, mirrored)
    focal = focal_px(photo.image.size, photo.focal_35mm_mm)
    objects = [_seat_answer(photo, seat, answer, vector, focal, searcher, cues)
               for seat, answer, vector, cues in zip(seats, answers, vectors, searcher.kind_cues(crops))]
    return PhotoAnswer(True, objects, objects[0].answer, objects[0].vector)


def with_main_answer(photo: PhotoAnswer, answer: SearchAnswer) -> PhotoAnswer:
    """photo with its answer, and its main seat's, replaced (e.g. by a refined pose)."""
    objects = [replace(photo.objects[0], answer=answer), *photo.objects[1:]] if photo.objects else []
    return replace(photo, objects=objects, answer=answer)


def _seat_answer(photo: Photo, seat: Detection, answer: SearchAnswer, vector: np.ndarray,
                 focal: float, searcher: Searcher, cues: dict[str, float] | None) -> SeatAnswer:
    """The seat's answer with the detector's label and ImageNet's cues (index.kind_cues; None: none) as
    seat-kind evidence, then the searcher's seat-kind temperature."""
    evidence = _with_cues(searcher, with_label_evidence(answer.categories, seat.label), cues)
    answer = replace(answer, categories=tempered(evidence, searcher.kind_temperature))
    axis = (axis_camera(answer.matches[0].pose.camera, box_centre(seat.box_px), photo.image.size, focal)
            if answer.matches else None)
    box = tuple(float(v) * photo.scale for v in seat.box_px)
    return SeatAnswer(box, seat.label, seat.score, answer, vector, axis)


def _with_cues(searcher: Searcher, categories: list[tuple[str, float]], cues: dict[str, float] | None,
               ) -> list[tuple[str, float]]:
    return with_cue_evidence(categories, cues, searcher.kind_cue_floor, searcher.kind_cue_weight)


def main_first(seats: list[Detection], image_size: tuple[int, int]) -> list[Detection]:
    """seats ordered by score x box area (module docstring), largest first. image_size: (w, h) px, the frame
    of the boxes (kept for callers; the order does not depend on it)."""

    def weight(seat: Detection) -> float:
        x0, y0, x1, y1 = seat.box_px
        return seat.score * (x1 - x0) * (y1 - y0)

    return sorted(seats, key=weight, reverse=True)


def box_centre(box_px: tuple[float, float, float, float]) -> tuple[float, float]:
    return (box_px[0] + box_px[2]) / 2, (box_px[1] + box_px[3]) / 2


def square_crop(image: Image.Image, box_px: tuple[float, float, float, float], size_px: int,
                margin: float = CROP_MARGIN) -> np.ndarray:
    """The square around the box, its side the box's longer side plus `margin` of it on each side but at
    most the image's longer side (a seat that fills the photo is searched as the photo, not shrunk on
    white), moved inside the image along each side long enough for it, on white where it still leaves
    the image, resized to size_px. Returns (size_px, size_px, 3) uint8 RGB."""
    left, top, side_px = crop_window(image.size, box_px, margin)
    canvas = Image.new("RGB", (side_px, side_px), (255, 255, 255))
    inside = (max(0, left), max(0, top), min(image.width, left + side_px), min(image.height, top + side_px))
    canvas.paste(image.crop(inside), (inside[0] - left, inside[1] - top))
    return np.asarray(canvas.resize((size_px, size_px), Image.BILINEAR), dtype=np.uint8)


def crop_window(image_size: tuple[int, int], box_px: tuple[float, float, float, float],
                margin: float = CROP_MARGIN) -> tuple[int, int, int]:
    """The square `square_crop` cuts, as (left, top, side) px of an image of (width, height) px: centred on the
    box, its side the box's longer side plus `margin` of it on each side but at most the image's longer side,
    moved inside the image along each side long enough for it (it may still reach outside)."""
    cx, cy = box_centre(box_px)
    side = max(box_px[2] - box_px[0], box_px[3] - box_px[1], 1.0) * (1 + 2 * margin)
    side_px = max(1, round(min(side, max(image_size))))
    return _inside(cx, side_px, image_size[0]), _inside(cy, side_px, image_size[1]), side_px


def _inside(centre: float, side_px: int, extent_px: int) -> int:
    """Start of a side_px window centred on `centre`, moved inside [0, extent_px) when it fits there."""
    start = round(centre - side_px / 2)
    return min(max(start, 0), extent_px - side_px) if extent_px >= side_px else start


def with_label_evidence(categories: list[tuple[str, float]], label: str) -> list[tuple[str, float]]:
    """(kind, probability) most probable first, times p(label | kind), renormalised (module docstring)."""
    weighted = [(kind, p * LABEL_GIVEN_KIND.get(kind, {}).get(label, 1 / 3)) for kind, p in categories]
    total = sum(p for _, p in weighted)
    if total <= 0:
        return categories
    return sorted(((kind, p / total) for kind, p in weighted), key=lambda kp: -kp[1])
