"""The licensed training photos' manifest (training_photos/coco_licensed): every photo has a licence that
allows training and redistribution with attribution, its provenance, and seats the evaluation would accept;
none comes from the evaluation's sources or the repositories reserved for acceptance testing."""

from __future__ import annotations

import json
import re
from pathlib import Path

from catalogue.seats import SEAT_KINDS
from evaluation.real_photo_set import load_manifest

MANIFEST = Path(__file__).resolve().parents[1] / "training_photos" / "coco_licensed" / "manifest.json"
LICENCES = ("CC BY 2.0 (COCO licence id 4,", "CC BY-SA 2.0 (COCO licence id 5,")
RESERVED = ("shapenet/renderforcnn", "jiajunwu/marrnet", "xiumingzhang/genre-shapehd", "xingyizhou/starmap",
            "mathieuaubry/seeing3dchairs", "jiajunwu/3dinn", "nvlabs/centerpose", "elischwartz/imagenet-sample-images")


def _entries() -> list[dict]:
    return json.loads(MANIFEST.read_text())


def test_every_photo_has_a_trainable_licence_and_its_provenance():
    entries = _entries()
    assert len(entries) == 60 and len({e["file"] for e in entries}) == len(entries)
    for entry in entries:
        assert entry["licence"].startswith(LICENCES), entry["file"]
        assert entry["attribution_required"] is True and entry["licence_evidence"], entry["file"]
        assert re.fullmatch(r"[0-9a-f]{40}", entry["commit"]) and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
        assert entry["source_repo"].count("/") == 1 and entry["source_path"], entry["file"]


def test_every_seat_has_a_kind_and_a_box_of_positive_size():
    seats = [seat for entry in _entries() for seat in entry["seats"]]
    assert len(seats) == 106
    for seat in seats:
        assert seat["kind"] in SEAT_KINDS
        x0, y0, x1, y1 = seat["box"]
        assert 0 <= x0 < x1 and 0 <= y0 < y1 and min(x1 - x0, y1 - y0) >= 20


def test_no_photo_comes_from_the_evaluation_or_the_reserved_repositories():
    held_out = {p.source["repository"].lower() for p in load_manifest()} | set(RESERVED)
    assert not {e["source_repo"].lower() for e in _entries()} & held_out
    held_out_files = {Path(p.source["path"]).name for p in load_manifest()}
    assert not {Path(e["source_path"]).name for e in _entries()} & held_out_files
