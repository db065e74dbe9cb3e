"""Seat-kind evidence from what ImageNet's classifier sees in a seat's crop (models.imagenet_classifier).

Why: the seat-kind heads learnt from renders, and on photographs they miss most office chairs and many
sofas. A classifier that learnt from photographs sees what renders lack: the desk an office chair stands
at, the dining table of a chair, the studio couch. On the real-photo set's crops, ImageNet's mean answer
for office chairs is "desk" (0.41), for chairs "dining table" (0.50), for sofas "studio couch" (0.35); the
table's classes hold 0.61 of its answer on real office chairs and 0.10 on the training renders of office
chairs (sofas 0.50 against 0.06; `python -m bench.imagenet_on_seats`). Renders give these classes too little
for a read-out fitted on renders to learn them, so the links below are set by hand from what the classes
mean, not fitted: a cue is the probability ImageNet gives a class, shared among the seat kinds the class
goes with (each class's shares sum to 1).

Evidence: each kind's probability times (CUE_FLOOR + cue) ** CUE_WEIGHT, renormalised, applied like the
detector's label (index.scene) before the seat-kind temperature. The floor keeps a kind no class points to
(a stool, a lounger) from being vetoed; floor and weight were chosen on the real-photo set's dev split
(bench/kind_cues.py, EVALUATION.md "ImageNet's cues to the seat kind").
"""

from __future__ import annotations

import numpy as np

# ImageNet-1k class index: (its name, {seat kind: share}).
IMAGENET_KIND_CUES: dict[int, tuple[str, dict[str, float]]] = {
    423: ("barber chair", {"office_chair": 1.0}),
    526: ("desk", {"office_chair": 1.0}),
    553: ("file cabinet", {"office_chair": 1.0}),
    532: ("dining table", {"chair": 0.7, "stool": 0.3}),
    559: ("folding chair", {"chair": 0.8, "lounger": 0.2}),
    765: ("rocking chair", {"chair": 0.5, "armchair": 0.5}),
    857: ("throne", {"armchair": 1.0}),
    831: ("studio couch", {"sofa": 0.6, "armchair": 0.3, "lounger": 0.1}),
    703: ("park bench", {"bench": 1.0}),
}
CUE_FLOOR = 0.05
CUE_WEIGHT = 1.0


def kind_cues(imagenet_probabilities: np.ndarray) -> dict[str, float]:
    """One image's ImageNet probabilities (1000,) -> {seat kind: cue in [0, 1]} for the kinds of
    IMAGENET_KIND_CUES (cues sum to at most 1)."""
    cues: dict[str, float] = {}
    for index, (_, shares) in IMAGENET_KIND_CUES.items():
        for kind, share in shares.items():
            cues[kind] = cues.get(kind, 0.0) + share * float(imagenet_probabilities[index])
    return cues


def with_cue_evidence(categories: list[tuple[str, float]], cues: dict[str, float] | None,
                      floor: float = CUE_FLOOR, weight: float = CUE_WEIGHT) -> list[tuple[str, float]]:
    """(kind, probability) most probable first, times (floor + cue) ** weight, renormalised; unchanged
    without cues or when every product is 0."""
    if not cues:
        return categories
    weighted = [(kind, p * (floor + cues.get(kind, 0.0)) ** weight) for kind, p in categories]
    total = sum(p for _, p in weighted)
    if total <= 0:
        return categories
    return sorted(((kind, p / total) for kind, p in weighted), key=lambda kp: -kp[1])
