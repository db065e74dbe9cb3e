"""Paired comparison of two real-photo evaluations: outcomes per photo, McNemar's test, the command."""

import json

import pytest

from evaluation.compare import compare, main, main_seat_outcomes, mcnemar_p
from evaluation.real_photo_set import SOURCE_FIELDS, LabelledSeat, RealPhoto


def _photo(photo_id, split, kind="chair", view="front", symmetry="none"):
    seats = (LabelledSeat(kind, (0, 0, 100, 100), view, "level", symmetry=symmetry),
             LabelledSeat("stool", (0, 0, 10, 10), "back", "level"))  # smaller: not the main seat
    return RealPhoto(photo_id, f"{photo_id}.jpg", 200, 200, {}, split, kind, seats)


def _answers(*seats):
    return [{"box": [0, 0, 100, 100], "kind": kind, "azimuth_deg": azimuth} for kind, azimuth in seats]


PHOTOS = [_photo("p1", "dev"), _photo("p2", "dev"), _photo("p3", "test", view="right"),
          _photo("p4", "test", view="any", symmetry="any"), _photo("p5", "test", kind="bench", view="left",
                                                                    symmetry="180")]


def test_outcomes_score_the_first_answer_against_the_main_seat():
    per_photo = [{"id": "p1", "predicted": _answers(("chair", 40.0), ("stool", 180.0))},  # right, within 45
                 {"id": "p2", "predicted": _answers(("sofa", 170.0))},  # wrong kind, a flip
                 {"id": "p3", "predicted": []},  # no answer: wrong, not a flip
                 {"id": "p4", "predicted": _answers(("chair", 0.0))},  # view not scored
                 {"id": "p5", "predicted": _answers(("bench", 90.0))}]  # a bench's back is its front
    out = main_seat_outcomes(PHOTOS, per_photo)
    assert out["p1"] == {"kind": True, "view_45": True, "flip": True}
    assert out["p2"] == {"kind": False, "view_45": False, "flip": False}
    assert out["p3"] == {"kind": False, "view_45": False, "flip": True}
    assert out["p4"] == {"kind": True, "view_45": None, "flip": None}
    assert out["p5"] == {"kind": True, "view_45": True, "flip": True}
    with pytest.raises(ValueError, match="no answers for 1 photos"):
        main_seat_outcomes(PHOTOS, per_photo[:4])


@pytest.mark.parametrize("fixed, broken, p", [(0, 0, 1.0), (5, 0, 0.0625), (0, 5, 0.0625), (1, 9, 22 / 1024),
                                              (3, 3, 1.0), (10, 0, 2 / 1024)])
def test_mcnemar_exact_p_values(fixed, broken, p):
    assert mcnemar_p(fixed, broken) == pytest.approx(p)


def test_compare_counts_fixed_and_broken_photos_per_split():
    a = {"p1": {"kind": True, "view_45": True, "flip": True}, "p2": {"kind": False, "view_45": False, "flip": False},
         "p3": {"kind": False, "view_45": False, "flip": True}, "p4": {"kind": True, "view_45": None, "flip": None},
         "p5": {"kind": True, "view_45": True, "flip": True}}
    b = {"p1": {"kind": False, "view_45": True, "flip": True}, "p2": {"kind": True, "view_45": True, "flip": True},
         "p3": {"kind": True, "view_45": True, "flip": True}, "p4": {"kind": True, "view_45": None, "flip": None},
         "p5": {"kind": True, "view_45": False, "flip": False}}
    result = compare(PHOTOS, a, b)
    assert set(result) == {"all", "dev", "test"}
    assert result["all"]["kind"] == {"n": 5, "a": 0.6, "b": 0.8, "fixed": 2, "broken": 1, "p": 1.0}
    assert result["all"]["view_45"]["n"] == 4  # p4's view is not scored
    assert result["all"]["flip"] == {"n": 4, "a": 0.25, "b": 0.25, "fixed": 1, "broken": 1, "p": 1.0}
    assert result["dev"]["view_45"] == {"n": 2, "a": 0.5, "b": 1.0, "fixed": 1, "broken": 0, "p": 1.0}
    assert result["test"]["kind"]["fixed"] == 1 and result["test"]["kind"]["n"] == 3


def test_command_prints_the_table_and_fails_in_one_line(tmp_path, capsys):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"name": "t", "version": 1, "split": {}, "conventions": {}, "images": [
        {"id": "p1", "file": "p1.jpg", "width": 200, "height": 200, "source": dict.fromkeys(SOURCE_FIELDS, "x"),
         "split": "dev", "kind": "chair",
         "seats": [{"kind": "chair", "box": [0, 0, 100, 100], "view": "front", "elevation": "level"}]}]}))
    run = {"targets": {"x (icosphere 2)": {"detector + per-seat search": {
        "per_photo": [{"id": "p1", "predicted": _answers(("chair", 10.0))}]}}}}
    worse = {"targets": {"y": {"detector + per-seat search": {
        "per_photo": [{"id": "p1", "predicted": _answers(("sofa", 180.0))}]}}}}
    (tmp_path / "a.json").write_text(json.dumps(run))
    (tmp_path / "b.json").write_text(json.dumps(worse))
    code = main([str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--manifest", str(manifest),
                 "--json", str(tmp_path / "out.json")])
    assert code == 0
    assert "| dev | kind | 1 | 1.00 | 0.00 | 0 | 1 | 1.000 |" in capsys.readouterr().out
    assert json.loads((tmp_path / "out.json").read_text())["result"]["all"]["flip"]["b"] == 1.0
    assert main([str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--manifest", str(manifest),
                 "--target-b", "z"]) == 2
    err = capsys.readouterr().err
    assert "has no target 'z'" in err and len(err.strip().splitlines()) == 1
