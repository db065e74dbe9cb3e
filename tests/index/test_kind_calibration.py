"""Seat-kind temperature scaling: softer, same order, sums to one; the fitted temperatures by embedder."""

from __future__ import annotations

import pytest

from index.kind_calibration import KIND_TEMPERATURES, WHOLE_IMAGE_KIND_TEMPERATURES, fitted_temperature, tempered


def test_a_temperature_softens_the_probabilities_and_keeps_their_order():
    categories = [("chair", 0.8), ("sofa", 0.2), ("bench", 0.0)]
    softer = tempered(categories, 2.0)
    assert [kind for kind, _ in softer] == ["chair", "sofa", "bench"]
    assert dict(softer) == pytest.approx({"chair": 2 / 3, "sofa": 1 / 3, "bench": 0.0}, abs=1e-5)
    assert tempered(categories, 1.0) == categories and tempered([], 3.0) == []
    sharper = dict(tempered(categories, 0.5))
    assert sharper["chair"] == pytest.approx(0.64 / 0.68) and sum(sharper.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_a_temperature_must_be_positive(temperature):
    with pytest.raises(ValueError, match="must be positive"):
        tempered([("chair", 1.0)], temperature)


def test_only_fitted_embedders_are_softened():
    assert fitted_temperature("lite0_finetuned") == KIND_TEMPERATURES["lite0_finetuned"] > 1
    assert fitted_temperature("scratch_cnn") == 1.0
    whole = fitted_temperature("lite0_finetuned", whole_image=True)
    assert whole == WHOLE_IMAGE_KIND_TEMPERATURES["lite0_finetuned"] > KIND_TEMPERATURES["lite0_finetuned"]
    assert fitted_temperature("scratch_cnn", whole_image=True) == 1.0
