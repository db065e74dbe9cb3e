"""Per-seat answers: the real detector on a real photo with two seats, the real tiny index, the main seat,
boxes in the uploaded image's pixels, the detector's class as seat-kind evidence, no seat found, and the
crops' mirror images embedded with them for a viewpoint head (on or off by setting)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.deps import load_services
from app.settings import Settings
from catalogue.seats import SEAT_KINDS
from index import search
from index.build import view_cameras
from index.collection import Collection
from index.kind_calibration import tempered
from index.scene import LABEL_GIVEN_KIND, answer_photo, main_first, square_crop, with_label_evidence
from index.search import Searcher
from models.detector import Detection
from models.photo import Photo
from tests.conftest import TWO_SEATS_PHOTO, ViewHeadEmbedder


@pytest.fixture
def searcher(tiny_index_settings, tiny_embedder):
    collection = Collection.open(tiny_index_settings.resolved_index_dir)
    yield Searcher(collection, tiny_embedder)
    collection.close()


@pytest.fixture
def headed(tiny_index_settings, tiny_embedder):
    collection = Collection.open(tiny_index_settings.resolved_index_dir)
    yield collection, ViewHeadEmbedder(tiny_embedder, len(view_cameras(collection.view_config)))
    collection.close()


@pytest.fixture(scope="module")
def two_seats() -> Image.Image:
    with Image.open(TWO_SEATS_PHOTO) as photo:
        return photo.convert("RGB")


def test_each_seat_is_answered_main_seat_first(two_seats, seat_detector, searcher):
    # the upload was 960 px a side; the loader shrank it to 480: boxes come back in upload pixels
    answer = answer_photo(Photo(two_seats, (960, 960), None), seat_detector, searcher, top_k=2)
    assert answer.detected and len(answer.objects) == 2
    armchair, office_chair = answer.objects  # the armchair is bigger, surer and nearer the centre
    assert armchair.box_px[0] > 600 and office_chair.box_px[2] < 450
    assert all(0 <= v <= 960 for seat in answer.objects for v in seat.box_px)
    assert answer.answer is armchair.answer and np.array_equal(answer.vector, armchair.vector)
    for seat in answer.objects:
        assert seat.label == "chair" and len(seat.answer.matches) == 2
        assert sum(p for _, p in seat.answer.categories) == pytest.approx(1.0)
        assert seat.axis_camera is not None and np.linalg.norm(seat.axis_camera) == pytest.approx(1.0)
    assert not np.allclose(armchair.vector, office_chair.vector)


@pytest.mark.parametrize("detect", [True, False])
def test_the_seat_kind_probabilities_are_softened_last(two_seats, seat_detector, searcher, detect):
    """Detected seats get `kind_temperature`, whole-image answers `whole_image_kind_temperature`; each
    answer ignores the other's."""
    photo = Photo(two_seats, two_seats.size, None)
    assert searcher.kind_temperature == searcher.whole_image_kind_temperature == 1.0  # none fitted for it
    plain = answer_photo(photo, seat_detector if detect else None, searcher, top_k=1)
    other = "whole_image_kind_temperature" if detect else "kind_temperature"
    setattr(searcher, other, 3.0)
    assert answer_photo(photo, seat_detector if detect else None, searcher, top_k=1).answer.categories == \
        pytest.approx(plain.answer.categories)
    setattr(searcher, "kind_temperature" if detect else "whole_image_kind_temperature", 2.0)
    softer = answer_photo(photo, seat_detector if detect else None, searcher, top_k=1)
    assert softer.answer.categories == pytest.approx(tempered(plain.answer.categories, 2.0))
    assert softer.answer.categories[0][1] < plain.answer.categories[0][1] < 1
    for before, after in zip(plain.objects, softer.objects):  # after the detector's label evidence
        assert after.answer.categories == pytest.approx(tempered(before.answer.categories, 2.0))


def test_the_crop_is_what_is_searched(two_seats, seat_detector, searcher):
    answer = answer_photo(Photo(two_seats, two_seats.size, None), seat_detector, searcher, top_k=1)
    seat = answer.objects[0]
    crop = square_crop(two_seats, seat.box_px, searcher.embedder.info.input_size_px)
    np.testing.assert_allclose(searcher.embed(crop[None])[0], seat.vector, atol=1e-5)


@pytest.mark.parametrize("mirror_views", [True, False])
def test_the_crops_mirror_images_go_to_the_view_head(two_seats, seat_detector, headed, monkeypatch,
                                                     mirror_views):
    collection, embedder = headed
    searcher = Searcher(collection, embedder, mirror_views=mirror_views)
    assert searcher.view_prior is not None and searcher.mirror_views == mirror_views
    given = []
    shipped = search.Searcher.search_embeddings
    monkeypatch.setattr(search.Searcher, "search_embeddings",
                        lambda self, *args: given.append(args) or shipped(self, *args))
    answer = answer_photo(Photo(two_seats, two_seats.size, None), seat_detector, searcher, top_k=1)
    assert embedder.calls == [4 if mirror_views else 2]  # two seats, with their mirror images, in one call
    mirrored = given[0][3]
    if not mirror_views:
        assert mirrored is None
        return
    size_px = embedder.info.input_size_px
    crops = np.stack([square_crop(two_seats, seat.box_px, size_px) for seat in answer.objects])
    np.testing.assert_allclose(mirrored, embedder.embed(crops[:, :, ::-1]), atol=1e-5)


@pytest.mark.parametrize("mirror_views", [True, False])
def test_the_setting_reaches_the_service_searcher(tiny_index_settings, headed, mirror_views):
    settings = Settings(**{**tiny_index_settings.model_dump(), "view_head_mirror": mirror_views})
    services = load_services(settings, embedder=headed[1])
    assert services.searcher.view_prior is not None and services.searcher.mirror_views == mirror_views
    services.collection.close()


def test_no_seat_gives_the_whole_image_answer(seat_detector, searcher):
    blank = Image.new("RGB", (200, 100), (255, 255, 255))
    answer = answer_photo(Photo(blank, (200, 100), None), seat_detector, searcher, top_k=3)
    assert not answer.detected and answer.objects == []
    square = np.full((1, 96, 96, 3), 255, np.uint8)
    np.testing.assert_allclose(answer.vector, searcher.embed(square)[0], atol=1e-5)
    assert len(answer.answer.matches) == 3


def test_without_a_detector_the_whole_image_is_answered(two_seats, searcher):
    answer = answer_photo(Photo(two_seats, two_seats.size, None), None, searcher, top_k=1)
    assert not answer.detected and answer.objects == []


def test_at_most_max_seats(two_seats, seat_detector, searcher):
    answer = answer_photo(Photo(two_seats, two_seats.size, None), seat_detector, searcher, max_seats=1)
    assert len(answer.objects) == 1 and answer.objects[0].box_px[0] > 300


def test_main_seat_is_big_and_sure_wherever_it_is():
    centre = Detection((150.0, 100.0, 250.0, 200.0), "chair", 0.6)  # 100 x 100 px
    edge = Detection((0.0, 0.0, 110.0, 100.0), "chair", 0.6)  # larger, in a corner: first
    unsure = Detection((100.0, 50.0, 300.0, 250.0), "chair", 0.03)  # 4x the area at a twentieth of the score
    small = Detection((180.0, 130.0, 220.0, 170.0), "chair", 0.99)
    assert main_first([centre, small, unsure, edge], (400, 300)) == [edge, centre, small, unsure]  # corner first


def test_square_crop_keeps_the_seat_on_white():
    image = Image.new("RGB", (100, 50), (0, 0, 0))
    crop = square_crop(image, (0.0, 0.0, 20.0, 50.0), 60, margin=0.1)  # a 60 px square
    assert crop.shape == (60, 60, 3) and crop.dtype == np.uint8
    assert (crop[:5] == 255).all() and (crop[-5:] == 255).all()  # above and below the image: white
    assert (crop[6:-6] == 0).all()  # moved right to stay inside the image: no white on the left
    whole = square_crop(image, (10.0, 10.0, 90.0, 40.0), 50, margin=0.5)  # wider than the image
    assert (whole[:12] == 255).all() and (whole[13:37] == 0).all()  # the whole image, as square_image


def test_the_detector_label_is_evidence_for_the_kind():
    search = [("chair", 0.4), ("sofa", 0.35), ("bench", 0.25)]
    couch = dict(with_label_evidence(search, "couch"))
    bench = dict(with_label_evidence(search, "bench"))
    assert max(couch, key=couch.get) == "sofa" and max(bench, key=bench.get) == "bench"
    assert sum(couch.values()) == pytest.approx(1.0)
    assert dict(with_label_evidence([("made-up kind", 1.0)], "couch")) == {"made-up kind": 1.0}


def test_every_seat_kind_has_detector_evidence():
    """Keys spelt as the catalogue spells kinds: a misspelt one silently falls back to 1/3 per label."""
    assert set(LABEL_GIVEN_KIND) == set(SEAT_KINDS)
    office = dict(with_label_evidence([("office_chair", 0.5), ("sofa", 0.5)], "chair"))
    assert office["office_chair"] > 0.8
