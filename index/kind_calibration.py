"""Seat-kind probabilities that mean what they say on photographs: temperature scaling.

The seat-kind probabilities an answer states (index.search's mixture, then index.scene's detector-label
evidence) were fitted on renders, and on real photographs they claim too much: over the real-photo set's
detected seats the stated probability of the answered kind averaged 0.83 for answers right 0.67 of the time,
and answers stated at 0.9 or more (0.98 on average) were right 0.77 of the time (dev and test alike;
EVALUATION.md, "Seat-kind probabilities"). Temperature scaling (Guo et al., ICML 2017) keeps every answer's
ranking and softens its probabilities: p_k ∝ p_k ** (1 / T). T is chosen per embedder on the real-photo dev
split, as the one of least Brier score over the detected seats (`python -m bench.kind_temperature`,
bench/results/kind_temperature.json, which says why not the log-likelihood); embedders not listed keep their
probabilities (T = 1), which are then not calibrated on photographs. Refitted on 2026-12-03 when ImageNet's
cues joined the evidence (2.1 -> 2.2, whole image 3.5 -> 3.1; EVALUATION.md "ImageNet's cues to the seat kind").

A whole-image answer (no seat detected: the photo searched as one seat) has its own temperature, fitted the same
way on the dev split's photos answered whole (main seat's label): its probabilities were overconfident after the
detected seats' temperature too (stated 0.54 for answers right 0.42 of the time on dev).
"""

from __future__ import annotations

import numpy as np

KIND_TEMPERATURES = {"lite0_finetuned": 2.2}  # detected seats
WHOLE_IMAGE_KIND_TEMPERATURES = {"lite0_finetuned": 3.1}  # whole-image answers
FLOOR = 1e-12  # a kind stated at probability 0 stays (nearly) impossible


def fitted_temperature(embedder_name: str, whole_image: bool = False) -> float:
    """The temperature fitted for an embedder's seat-kind probabilities of detected seats, or of whole-image
    answers (1.0: none fitted)."""
    return (WHOLE_IMAGE_KIND_TEMPERATURES if whole_image else KIND_TEMPERATURES).get(embedder_name, 1.0)


def tempered(categories: list[tuple[str, float]], temperature: float) -> list[tuple[str, float]]:
    """(kind, probability) pairs, most probable first, with p ** (1 / temperature) renormalised; same order.
    temperature > 0 (1: unchanged; above 1: softer). Empty in, empty out."""
    if temperature <= 0:
        raise ValueError(f"a seat-kind temperature must be positive, got {temperature}")
    if temperature == 1 or not categories:
        return categories
    kinds = [kind for kind, _ in categories]
    logs = np.log(np.maximum([p for _, p in categories], FLOOR)) / temperature
    weights = np.exp(logs - logs.max())
    return sorted(zip(kinds, map(float, weights / weights.sum())), key=lambda kp: -kp[1])
