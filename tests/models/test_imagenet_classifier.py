"""ImageNet's classifier: the registry's real Lite0 weights with their 1000-way top, at the service's size and
at a small one; shapes, probabilities, resizing and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from index.kind_cues import kind_cues
from models.imagenet_classifier import ImagenetClassifier
from tests.conftest import TWO_SEATS_PHOTO


@pytest.fixture(scope="module")
def classifier(lite0_weights_file):
    return ImagenetClassifier(lite0_weights_file)


def test_probabilities_of_any_size(lite0_weights_file):
    small = ImagenetClassifier(lite0_weights_file, input_size_px=64)
    rng = np.random.default_rng(0)
    ramp = np.linspace(0.0, 1.0, 64)
    images = np.stack([np.stack([np.add.outer(ramp * a, ramp * b) * 127 for a, b in rng.uniform(0, 1, (3, 2))],
                                axis=-1) for _ in range(3)]).astype(np.uint8)  # smooth: resizing keeps them
    out = small.probabilities(images)
    assert out.shape == (3, 1000) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-4)
    assert small.probabilities(np.zeros((0, 64, 64, 3), np.uint8)).shape == (0, 1000)
    bigger = np.repeat(np.repeat(images, 2, axis=1), 2, axis=2)  # resized back to 64 px first
    np.testing.assert_allclose(small.probabilities(bigger), out, atol=0.05)


def test_bad_images_are_refused(classifier):
    with pytest.raises(ValueError):
        classifier.probabilities(np.zeros((1, 32, 32), np.uint8))
    with pytest.raises(ValueError):
        classifier.probabilities(np.zeros((1, 32, 32, 3), np.float32))


def test_a_real_photo_of_seats_is_seen_as_furniture(classifier):
    """The two-seat photo (an armchair and an office chair indoors): ImageNet's classes that point to seat
    kinds hold a real share of the answer, where random weights would spread it over 1000 classes."""
    with Image.open(TWO_SEATS_PHOTO) as photo:
        image = np.asarray(photo.convert("RGB").resize((224, 224)))
    cues = kind_cues(classifier.probabilities(image[None])[0])
    assert sum(cues.values()) > 0.05
