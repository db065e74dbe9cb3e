"""Real-photo metrics on hand-made cases with known answers, and the section on a tiny fixture set."""

import json

import numpy as np
import pytest
from PIL import Image

from evaluation.real_photo_eval import (
    SeatPrediction,
    azimuth_error_deg,
    bar_summary,
    box_iou,
    kind_probability_summary,
    kind_summary,
    match_seats,
    score_photos,
    view_summary,
)
from evaluation.real_photo_set import LabelledSeat, RealPhoto
from render.cameras import angles_to_camera


@pytest.mark.parametrize("labelled, estimated, symmetry, expected", [
    (0, 0, "none", 0), (0, 45, "none", 45), (350, 20, "none", 30), (90, 270, "none", 180),
    (0, 200, "none", 160), (90, 270, "180", 0), (0, 150, "180", 30), (45, 300, "none", 105)])
def test_azimuth_error_is_the_shortest_way_round(labelled, estimated, symmetry, expected):
    assert azimuth_error_deg(labelled, estimated, symmetry) == pytest.approx(expected)


def test_view_summary_counts_within_45_and_flips():
    # 10 right (<= 45), 121 and 179 are flips, 120 is neither, a missing answer is neither
    summary = view_summary([0.0, 45.0, 45.1, 120.0, 121.0, 179.0, None, 10.0])
    assert summary == {"n": 8, "within_45": pytest.approx(3 / 8), "flips": pytest.approx(2 / 8)}


def _seat(kind, box, view="front", symmetry="none"):
    return LabelledSeat(kind, box, view, "level", symmetry="any" if view == "any" else symmetry)


def _prediction(box, kind, azimuth):
    return SeatPrediction(box, kind, tuple(angles_to_camera(75.0, azimuth)))


def test_box_iou_and_greedy_matching():
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    seats = (_seat("chair", (0, 0, 10, 10)), _seat("sofa", (0, 0, 100, 50)), _seat("stool", (200, 0, 210, 10)))
    preds = [_prediction((1, 0, 11, 10), "chair", 0), _prediction((0, 0, 100, 40), "sofa", 0)]
    matched = match_seats(seats, preds)
    assert matched == [preds[0], preds[1], None]


def _photo(seats, split="dev"):
    big = max(seats, key=lambda s: s.area)
    return RealPhoto("p", "p.jpg", 300, 300, {}, split, big.kind, tuple(seats))


def test_score_photos_main_seat_and_per_seat_figures():
    sofa = _seat("sofa", (0, 100, 300, 300), "front-right")   # main seat, azimuth 45
    chair = _seat("chair", (0, 0, 50, 90), "back")             # azimuth 180
    bench = _seat("bench", (100, 0, 200, 60), "right", "180")  # front and back alike
    stool = _seat("stool", (250, 0, 280, 40), "any")
    photos = [_photo([sofa, chair, bench, stool])]
    predictions = [[_prediction((0, 110, 300, 300), "sofa", 70),   # kind right, 25 deg: right
                    _prediction((0, 0, 50, 90), "armchair", 0),      # kind wrong, 180 deg: flip
                    _prediction((100, 0, 200, 60), "bench", 280)]]   # 10 deg modulo 180: right
    result = score_photos(photos, predictions, boxes=True)
    assert result["main"] == {"n": 1, "kind": 1.0, "view": {"n": 1, "within_45": 1.0, "flips": 0.0},
                              "error_bars": {"n": 0},  # these answers state no bounds
                              "by_kind": {"sofa": {"n": 1, "right": 1, "answered": {"sofa": 1}}},
                              "kind_probabilities": {"n": 0}}  # nor a kind probability
    seats = result["seats"]
    assert seats["labelled"] == 4 and seats["recall"] == pytest.approx(3 / 4) and seats["main_first"] == 1.0
    assert seats["kind"] == pytest.approx(2 / 3)
    assert seats["view"] == {"n": 3, "within_45": pytest.approx(2 / 3), "flips": pytest.approx(1 / 3)}


def test_seat_kind_is_counted_per_labelled_kind_with_what_was_answered_instead():
    rows = [{"kind": "office_chair", "predicted_kind": p, "kind_right": p == "office_chair"}
            for p in ("chair", "chair", "armchair", "office_chair")]
    rows += [{"kind": "chair", "predicted_kind": None, "kind_right": False}]
    assert kind_summary(rows) == {"chair": {"n": 1, "right": 0, "answered": {"None": 1}},
                                  "office_chair": {"n": 4, "right": 1,
                                                   "answered": {"chair": 2, "armchair": 1, "office_chair": 1}}}
    from evaluation.real_photo_report import _kind_cell
    assert _kind_cell("office_chair", kind_summary(rows)["office_chair"]) == "1/4 (chair 2, armchair 1)"
    assert _kind_cell("sofa", None) == "-"


def test_error_bars_hold_within_the_bound_plus_half_a_sector_and_confident_flips_are_counted():
    # (azimuth error, stated 68 % bound, stated 90 % bound)
    rows = [{"view_error_deg": error, "stated_deg": (b68, b90)} for error, b68, b90 in [
        (31.0, 8.0, 20.0),     # 31 > 8 + 22.5; 31 <= 20 + 22.5: only the 90 % bound holds
        (31.0, 8.0, 8.0),      # neither holds
        (140.0, 8.0, 15.0),    # a flip stated at 8 deg: confident flip
        (150.0, 130.0, 170.0),  # a flip, honestly uncertain: not a confident flip; both bounds hold
        (0.0, 5.0, 9.0)]]      # both hold
    rows += [{"view_error_deg": None, "stated_deg": (5.0, 9.0)},   # no answer: not scored
             {"view_error_deg": 10.0, "stated_deg": (None, None)}]  # no bounds stated: not scored
    assert bar_summary(rows) == {"n": 5, "within_68": pytest.approx(2 / 5), "within_90": pytest.approx(3 / 5),
                                 "median_68_deg": 8.0, "confident_flips": pytest.approx(1 / 5)}
    assert bar_summary(rows[-2:]) == {"n": 0}


def test_stated_kind_probabilities_are_scored_against_how_often_the_kind_is_right():
    # (stated probability, right): bins of 0.2; [0.4, 0.6): 0.5 stated, 1/2 right; [0.8, 1]: 0.95 stated, 2/4 right
    stated = [(0.45, True), (0.55, False), (0.9, True), (1.0, True), (0.95, False), (0.95, False)]
    rows = [{"kind_probability": p, "kind_right": r} for p, r in stated]
    rows += [{"kind_probability": None, "kind_right": True}]  # no probability stated: not scored
    summary = kind_probability_summary(rows)
    assert summary == {"n": 6, "right": pytest.approx(3 / 6), "stated": pytest.approx(4.8 / 6),
                       "ece": pytest.approx(2 / 6 * 0.0 + 4 / 6 * abs(0.5 - 0.95)),
                       "confident": pytest.approx(4 / 6), "confident_right": pytest.approx(2 / 4)}
    assert kind_probability_summary(rows[-1:]) == {"n": 0}
    prediction = SeatPrediction((0, 0, 100, 100), "chair", None, kind_probability=0.8)
    seat = _seat("chair", (0, 0, 100, 100), "back")
    scored = score_photos([_photo([seat])], [[prediction]], boxes=True)
    main, per_seat = scored["main"]["kind_probabilities"], scored["seats"]["kind_probabilities"]
    assert np.isnan(main.pop("confident_right")) and np.isnan(per_seat.pop("confident_right"))  # none confident
    assert main == per_seat == {"n": 1, "right": 1.0, "stated": 0.8, "ece": pytest.approx(0.2), "confident": 0.0}
    from evaluation.real_photo_report import _share
    assert (_share(float("nan")), _share(0.5)) == ("-", "0.50")  # the report's cell for no confident answer


def test_wilson_intervals_match_known_values_and_the_report_shows_them():
    from evaluation.real_photo_eval import wilson_interval
    from evaluation.real_photo_report import _with_interval

    assert wilson_interval(0.5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0.0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(1.0, 57) == pytest.approx((0.9369, 1.0), abs=1e-4)
    assert all(np.isnan(wilson_interval(0.5, 0)))
    assert _with_interval(0.66, 108) == "0.66 (0.57-0.74)" and _with_interval(0.0, 0) == "-"


def test_the_main_seat_carries_the_answers_stated_bounds():
    seat = _seat("chair", (0, 0, 100, 100), "back")  # azimuth 180
    prediction = SeatPrediction((0, 0, 100, 100), "chair", tuple(angles_to_camera(75.0, 0.0)), 10.0, 30.0)
    bars = score_photos([_photo([seat])], [[prediction]], boxes=False)["main"]["error_bars"]
    assert bars == {"n": 1, "within_68": 0.0, "within_90": 0.0, "median_68_deg": 10.0, "confident_flips": 1.0}


def test_main_seat_answered_first_counts_photos_whose_first_answer_is_the_largest_seat():
    sofa = _seat("sofa", (0, 100, 300, 300))  # the largest labelled seat
    chair = _seat("chair", (0, 0, 50, 90))
    photos = [_photo([sofa, chair]), _photo([sofa, chair]), _photo([sofa, chair])]
    predictions = [[_prediction((0, 110, 300, 300), "sofa", 0), _prediction((0, 0, 50, 90), "chair", 0)],
                   [_prediction((0, 0, 50, 90), "chair", 0), _prediction((0, 110, 300, 300), "sofa", 0)],
                   []]
    result = score_photos(photos, predictions, boxes=True)
    assert result["seats"]["main_first"] == pytest.approx(1 / 3)  # the chair first, then no answer at all
    assert result["main"]["kind"] == pytest.approx(1 / 3)  # the chair's answer was judged as the sofa's


def test_a_photo_without_answers_is_wrong_not_right():
    result = score_photos([_photo([_seat("chair", (0, 0, 10, 10))])], [[]], boxes=True)
    assert result["main"]["kind"] == 0.0 and result["main"]["view"]["within_45"] == 0.0
    assert result["seats"]["recall"] == 0.0


@pytest.mark.slow
def test_the_real_photo_section_on_a_tiny_fixture(tmp_path, tiny_index_settings, tiny_embedder, tiny_cad_dir):
    """Two renders of the tiny index's box chair standing in for photos: the whole-image answer finds a
    chair, its view within 45 deg; the section lands in the Markdown between its markers."""
    from evaluation.real_photo_report import SECTION_END, SECTION_START, run_real_photo_section
    from evaluation.real_photo_set import load_manifest
    from evaluation.report import EvalTarget
    from index.collection import Collection
    from tests.conftest import render_rgb

    views = {"front": 0.0, "front-left": 315.0}
    images = render_rgb(tiny_cad_dir / "box_chair.glb", angles_to_camera(np.full(2, 70.0),
                                                                         np.array(list(views.values()))))
    entries = []
    for i, (view, image) in enumerate(zip(views, images)):
        Image.fromarray(image).save(tmp_path / f"p{i}.png")
        entries.append({"id": f"p{i}", "file": f"p{i}.png", "width": 64, "height": 64, "split": ["dev", "test"][i],
                        "kind": "chair", "source": {"repository": "test/fixture", "commit": "0" * 40, "path": "x",
                                                    "sha256": "0" * 64, "licence": "CC0", "redistributable": True},
                        "seats": [{"kind": "chair", "box": [8, 4, 56, 60], "view": view, "elevation": "level"}]})
    (tmp_path / "m.json").write_text(json.dumps({"images": entries}))
    (tmp_path / "E.md").write_text(f"# Evaluation\n\nbefore\n\n{SECTION_START}\nthe previous run\n{SECTION_END}\n\nafter\n")
    collection = Collection.open(tiny_index_settings.resolved_index_dir)
    try:
        results = run_real_photo_section([EvalTarget("tiny", collection, tiny_embedder)],
                                         load_manifest(tmp_path / "m.json"), tmp_path, tmp_path / "E.md", tmp_path)
    finally:
        collection.close()
    whole = results["targets"]["tiny"]["whole image"]
    assert whole["all"]["main"]["kind"] == 1.0 and whole["all"]["main"]["view"]["within_45"] == 1.0
    assert whole["dev"]["images"] == 1 and whole["test"]["images"] == 1
    text = (tmp_path / "E.md").read_text()
    assert "the previous run" not in text and text.count(SECTION_START) == 1 and "before" in text and "after" in text
    assert "| tiny | whole image | 1.00 | 1.00 | 0.00 |" in text
    assert "### Seat kind by kind" in text and "| tiny | whole image | 2/2 |" in text
    assert json.loads((tmp_path / "evaluation_realphotos.json").read_text())["set"]["images"] == 2


@pytest.mark.slow
def test_the_detector_mode_finds_the_seats_the_whole_image_misses(tmp_path, tiny_index_settings, tiny_embedder,
                                                                   seat_detector):
    """The committed CC0 photo with two seats: per-seat answers recall both labelled boxes (IoU >= 0.5),
    the whole-image answer none (its one box covers the room)."""
    from evaluation.real_photo_report import DETECTOR, WHOLE, real_photo_results
    from evaluation.report import EvalTarget
    from index.collection import Collection
    from tests.conftest import TWO_SEATS_PHOTO
    from tests.models.test_detector import ARMCHAIR, OFFICE_CHAIR

    seats = (LabelledSeat("office_chair", OFFICE_CHAIR, "any", "above", symmetry="any"),
             LabelledSeat("armchair", ARMCHAIR, "any", "above", symmetry="any"))
    photo = RealPhoto("two", TWO_SEATS_PHOTO.name, 480, 480, {"repository": "photo2cad"}, "dev", "armchair", seats)
    collection = Collection.open(tiny_index_settings.resolved_index_dir)
    try:
        results = real_photo_results([EvalTarget("tiny", collection, tiny_embedder)], [photo],
                                     TWO_SEATS_PHOTO.parent, seat_detector)
    finally:
        collection.close()
    modes = results["targets"]["tiny"]
    assert modes[WHOLE]["all"]["seats"]["recall"] == 0.0
    assert modes[DETECTOR]["all"]["seats"]["recall"] == 1.0
    assert len(modes[DETECTOR]["per_photo"][0]["predicted"]) >= 2


@pytest.mark.parametrize("search", [{}, {"view_prior": True, "mirror_views": False}, {"view_prior": False},
                                    {"kind_cues": True}])
def test_the_real_photos_are_searched_with_the_services_pose_options(tmp_path, tiny_index_settings, tiny_embedder,
                                                                     search):
    """`photo2cad evaluate` passes the service's pose settings (app.deps.search_options): with the mirror on,
    each photo is embedded with its mirror image; the section says which pose was measured."""
    from evaluation.real_photo_report import markdown_section, real_photo_results
    from evaluation.report import EvalTarget
    from index.build import view_cameras
    from index.collection import Collection
    from tests.conftest import TWO_SEATS_PHOTO, ViewHeadEmbedder

    photo = RealPhoto("two", TWO_SEATS_PHOTO.name, 480, 480, {"repository": "photo2cad"}, "dev", "armchair",
                      (LabelledSeat("armchair", (300.0, 150.0, 470.0, 400.0), "front", "level"),))
    collection = Collection.open(tiny_index_settings.resolved_index_dir)
    try:
        embedder = ViewHeadEmbedder(tiny_embedder, len(view_cameras(collection.view_config)))
        results = real_photo_results([EvalTarget("tiny", collection, embedder)], [photo], TWO_SEATS_PHOTO.parent,
                                     search=search)
    finally:
        collection.close()
    mirrored = search.get("view_prior", True) and search.get("mirror_views", True)
    assert embedder.calls == [2 if mirrored else 1] and results["search"] == search
    expected = {0: "retrieval alone", 1: "read on each crop only", 2: "and on its mirror image"}
    assert expected[2 if mirrored else int(search.get("view_prior", True))] in markdown_section(results)
    assert f"PHOTO2CAD_KIND_CUES={str(search.get('kind_cues', False)).lower()}" in markdown_section(results)
