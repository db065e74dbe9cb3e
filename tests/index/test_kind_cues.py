"""ImageNet's cues to the seat kind: the hand-set table, the evidence, and how a photo's answers get them
(each crop's cues to its seat, the whole image's to a whole-image answer, the setting to the service)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.deps import load_services
from app.settings import Settings
from catalogue.seats import SEAT_KINDS
from index.collection import Collection
from index.kind_cues import IMAGENET_KIND_CUES, kind_cues, with_cue_evidence
from index.scene import answer_photo, square_crop
from index.search import Searcher
from models.photo import Photo, square_image
from tests.conftest import TWO_SEATS_PHOTO

DESK = 526
COUCH = 831  # studio couch; the tiny index's kinds are chair, stool and sofa


def one_class(index: int) -> np.ndarray:
    probabilities = np.zeros(1000, np.float32)
    probabilities[index] = 1.0
    return probabilities


class FixedClassifier:
    """Answers `index` with probability 1 for every image; records the images it was given."""

    def __init__(self, index: int) -> None:
        self.index, self.seen = index, []

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        self.seen.append(np.array(images))
        return np.stack([one_class(self.index)] * len(images))


class WithImagenet:
    """The tiny embedder with an ImageNet classifier of its own, as the fine-tuned Lite0 has."""

    def __init__(self, embedder, classifier) -> None:
        self.embedder, self.info, self.classifier = embedder, embedder.info, classifier

    def embed(self, images: np.ndarray) -> np.ndarray:
        return self.embedder.embed(images)

    def imagenet_classifier(self):
        return self.classifier


@pytest.fixture
def collection(tiny_index_settings):
    collection = Collection.open(tiny_index_settings.resolved_index_dir)
    yield collection
    collection.close()


@pytest.fixture(scope="module")
def two_seats() -> Image.Image:
    with Image.open(TWO_SEATS_PHOTO) as photo:
        return photo.convert("RGB")


def test_the_table_speaks_the_catalogues_kinds():
    """A misspelt kind would silently get the floor only; each class shares all its probability."""
    for index, (name, shares) in IMAGENET_KIND_CUES.items():
        assert 0 <= index < 1000 and name
        assert set(shares) <= set(SEAT_KINDS)
        assert sum(shares.values()) == pytest.approx(1.0)


def test_cues_share_each_class_among_its_kinds():
    assert kind_cues(one_class(DESK)) == {"office_chair": 1.0} | {k: 0.0 for k in kind_cues(one_class(DESK))
                                                                   if k != "office_chair"}
    mixed = 0.5 * one_class(DESK) + 0.5 * one_class(831)  # desk and studio couch
    cues = kind_cues(mixed)
    assert cues["office_chair"] == pytest.approx(0.5) and cues["sofa"] == pytest.approx(0.3)
    assert cues["armchair"] == pytest.approx(0.15) and sum(cues.values()) == pytest.approx(1.0)
    assert sum(kind_cues(one_class(0)).values()) == 0.0  # a tench says nothing about seats


def test_a_desk_makes_an_office_chair_of_a_chair():
    answer = [("chair", 0.6), ("office_chair", 0.3), ("stool", 0.1)]
    weighed = with_cue_evidence(answer, kind_cues(one_class(DESK)))
    assert weighed[0][0] == "office_chair" and sum(p for _, p in weighed) == pytest.approx(1.0)
    # chair keeps its floor: 0.6 x 0.05 against 0.3 x 1.05
    assert dict(weighed)["chair"] == pytest.approx(0.03 / (0.03 + 0.315 + 0.005))
    assert with_cue_evidence(answer, None) == answer
    assert dict(with_cue_evidence(answer, kind_cues(one_class(DESK)), weight=0.0)) == pytest.approx(dict(answer))


def test_each_seat_gets_its_crops_cues(two_seats, seat_detector, collection, tiny_embedder):
    photo = Photo(two_seats, two_seats.size, None)
    plain = answer_photo(photo, seat_detector, Searcher(collection, tiny_embedder), top_k=1)
    couch = FixedClassifier(COUCH)
    cued = answer_photo(photo, seat_detector, Searcher(collection, tiny_embedder, kind_cues=True, imagenet=couch),
                        top_k=1)
    size_px = tiny_embedder.info.input_size_px
    crops = np.stack([square_crop(two_seats, seat.box_px, size_px) for seat in plain.objects])
    assert len(couch.seen) == 1 and np.array_equal(couch.seen[0], crops)  # one call, the searched crops
    for before, after in zip(plain.objects, cued.objects):  # kind temperature 1: none fitted for it
        assert dict(after.answer.categories) == pytest.approx(
            dict(with_cue_evidence(before.answer.categories, kind_cues(one_class(COUCH)))))
        assert dict(after.answer.categories)["sofa"] > dict(before.answer.categories)["sofa"]


def test_a_whole_image_answer_gets_the_whole_images_cues(two_seats, collection, tiny_embedder):
    photo = Photo(two_seats, two_seats.size, None)
    plain = answer_photo(photo, None, Searcher(collection, tiny_embedder), top_k=1)
    couch = FixedClassifier(COUCH)
    cued = answer_photo(photo, None, Searcher(collection, tiny_embedder, kind_cues=True, imagenet=couch), top_k=1)
    assert np.array_equal(couch.seen[0], square_image(two_seats, tiny_embedder.info.input_size_px)[None])
    assert dict(cued.answer.categories) == pytest.approx(
        dict(with_cue_evidence(plain.answer.categories, kind_cues(one_class(COUCH)))))


def test_the_embedders_own_classifier_is_used_only_when_asked(collection, tiny_embedder):
    own = WithImagenet(tiny_embedder, FixedClassifier(DESK))
    assert Searcher(collection, own, kind_cues=True).imagenet is own.classifier
    assert Searcher(collection, own).imagenet is None
    assert Searcher(collection, tiny_embedder, kind_cues=True).imagenet is None  # it has none
    assert Searcher(collection, own).kind_cues(np.zeros((2, 8, 8, 3), np.uint8)) == [None, None]


@pytest.mark.parametrize("on", [True, False])
def test_the_setting_reaches_the_service_searcher(tiny_index_settings, tiny_embedder, on):
    own = WithImagenet(tiny_embedder, FixedClassifier(DESK))
    settings = Settings(**{**tiny_index_settings.model_dump(), "kind_cues": on})
    services = load_services(settings, embedder=own)
    assert (services.searcher.imagenet is own.classifier) == on
    services.collection.close()
