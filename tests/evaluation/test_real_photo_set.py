"""The real-photo manifest: schema, provenance and licence of every photo, and extraction from a snapshot."""

import copy
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from catalogue.seats import SEAT_KINDS
from evaluation.real_photo_set import (
    missing_photos,
    MANIFEST,
    SOURCE_FIELDS,
    ManifestError,
    batch_splits,
    extract,
    load_manifest,
    snapshot_dir,
)


def test_the_committed_manifest_follows_the_schema_and_covers_every_kind():
    photos = load_manifest()
    assert len(photos) >= 60
    assert {s.kind for p in photos for s in p.seats} == set(SEAT_KINDS)
    assert sum(len(p.seats) > 1 for p in photos) >= 10
    assert {p.split for p in photos} == {"dev", "test"}
    for photo in photos:
        assert set(SOURCE_FIELDS) <= set(photo.source)
        assert len(photo.source["commit"]) == 40 and len(photo.source["sha256"]) == 64
        assert photo.source["licence"].strip() and isinstance(photo.source["redistributable"], bool)


def test_every_batch_after_the_first_has_the_splits_its_recorded_seed_gives():
    manifest = json.loads(MANIFEST.read_text())
    batches, entries, start = manifest["split"]["batches"], manifest["images"], 0
    assert sum(b["photos"] for b in batches) == len(entries)
    for batch in batches:
        photos, start = entries[start:start + batch["photos"]], start + batch["photos"]
        if batch["seed"] == 0:  # the first batch: split per (source, main kind), README "Split"
            continue
        assert {e["id"]: e["split"] for e in photos} == batch_splits(photos, batch["seed"])


def test_a_batch_is_split_per_main_kind_alternately_starting_with_dev():
    entries = [{"id": f"p{i}", "kind": kind} for i, kind in enumerate(["sofa"] * 3 + ["chair"] * 4)]
    splits = batch_splits(entries, seed=5)
    assert sorted(splits) == sorted(e["id"] for e in entries)
    for kind, dev in (("sofa", 2), ("chair", 2)):
        assert sum(splits[e["id"]] == "dev" for e in entries if e["kind"] == kind) == dev
    assert splits == batch_splits(list(reversed(entries)), seed=5)  # the order given does not matter
    assert splits != batch_splits(entries, seed=6) or splits != batch_splits(entries, seed=7)


def test_photos_that_may_not_be_redistributed_are_not_in_git():
    photos = load_manifest()
    tracked = subprocess.run(["git", "ls-files"], cwd=MANIFEST.parents[2], capture_output=True, text=True,
                             check=True).stdout.split()
    names = {Path(t).name for t in tracked}
    assert not [p.file for p in photos if not p.source["redistributable"] and p.file in names]


def _raw():
    return json.loads(MANIFEST.read_text())


@pytest.mark.parametrize("break_it, message", [
    (lambda e: e["source"].pop("licence"), "source lacks licence"),
    (lambda e: e["seats"][0].update(kind="throne"), "kind 'throne'"),
    (lambda e: e["seats"][0].update(box=[0, 0, e["width"] + 1, 10]), "outside the image"),
    (lambda e: e["seats"][0].update(view="sideways"), "view 'sideways'"),
    (lambda e: e.update(split="train"), "split must be"),
    (lambda e: e.update(seats=[]), "no labelled seat"),
])
def test_a_broken_entry_is_refused_with_its_id(tmp_path, break_it, message):
    raw = _raw()
    entry = copy.deepcopy(raw["images"][0])
    break_it(entry)
    raw["images"] = [entry]
    (tmp_path / "m.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=message):
        load_manifest(tmp_path / "m.json")


def _snapshot(mirrors: Path, data: bytes) -> str:
    """A bare git snapshot of owner/name holding photos/a.jpg; returns its commit."""
    work = mirrors / "work"
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "photos").mkdir()
    (work / "photos" / "a.jpg").write_bytes(data)
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "x"], check=True)
    bare = snapshot_dir(mirrors, "owner/name")
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()


def test_extract_copies_photos_out_of_a_snapshot_and_checks_their_hash(tmp_path):
    data = b"\xff\xd8 not really a jpeg"
    commit = _snapshot(tmp_path / "mirrors", data)
    raw = _raw()
    good, bad = copy.deepcopy(raw["images"][0]), copy.deepcopy(raw["images"][1])
    for entry, digest in ((good, hashlib.sha256(data).hexdigest()), (bad, "0" * 64)):
        entry["source"].update(repository="owner/name", commit=commit, path="photos/a.jpg", sha256=digest)
    raw["images"] = [good, bad]
    (tmp_path / "m.json").write_text(json.dumps(raw))
    failed = extract(load_manifest(tmp_path / "m.json"), tmp_path / "mirrors", tmp_path / "out")
    assert failed == [bad["id"]]
    assert (tmp_path / "out" / good["file"]).read_bytes() == data and not (tmp_path / "out" / bad["file"]).exists()


def test_missing_photos_say_how_to_extract_them(tmp_path):
    photos = load_manifest()[:3]
    message = missing_photos(photos, tmp_path)
    assert message.startswith(f"3 of the 3 real photos are not in {tmp_path}") and "extract" in message
    for photo in photos:
        (tmp_path / photo.file).write_bytes(b"x")
    assert missing_photos(photos, tmp_path) is None


@pytest.mark.parametrize("bench", ["bench.bench_detector_tiles", "bench.tiled_answer_variants",
                                   "bench.view_prior_sweep", "bench.view_mirror", "bench.kind_variants",
                                   "bench.kind_temperature", "bench.crop_tta", "bench.kind_probe",
                                   "bench.kind_readout", "bench.main_seat_order", "bench.crop_margin",
                                   "bench.kind_cues", "bench.imagenet_on_seats", "bench.perspective_crop",
                                   "bench.view_head_variants"])
def test_real_photo_benches_refuse_a_folder_without_the_photos(bench, tmp_path, monkeypatch, capsys):
    assert run_bench(monkeypatch, capsys, bench, "--photos", str(tmp_path)) == 2
    assert "real photos are not in" in capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize(("bench", "arguments", "message"), [
    ("bench.view_mirror", ["--repeats", "2"], "--repeats must be at least 4"),
    ("bench.view_mirror", ["--timing", "no-such-photo"], "--timing takes ids of the real-photo set"),
    ("bench.view_mirror", ["--timing", ","], "--timing takes ids of the real-photo set"),
    ("bench.kind_variants", ["--weights", "0.5,x"], "--weights takes numbers in [0, 1]"),
    ("bench.kind_variants", ["--weights", "1.5"], "--weights takes numbers in [0, 1]"),
    ("bench.kind_variants", ["--weights", ","], "--weights takes numbers in [0, 1]"),
    ("bench.kind_variants", ["--second", "no-such-folder"], "--second: no trained folder at no-such-folder"),
    ("bench.crop_tta", ["--variants", "shipped,five-nothing"], "--variants takes names among"),
    ("bench.kind_probe", ["--lite2", "no-such.pth"], "--lite2: no checkpoint at no-such.pth"),
    ("bench.kind_readout", ["--fit-set", "no-such.json"], "--fit-set: no manifest at no-such.json"),
    ("bench.kind_readout", ["--l2", "-1"], "--l2 must be a number >= 0"),
    ("bench.crop_margin", ["--margins", "0.1,2"], "--margins takes numbers in [0, 1]"),
    ("bench.crop_margin", ["--margins", "x"], "--margins takes numbers in [0, 1]"),
    ("bench.kind_cues", ["--floors", "0,0.05"], "--floors takes numbers > 0"),
    ("bench.kind_cues", ["--weights", "x"], "--weights takes numbers >= 0"),
    ("bench.kind_cues", ["--repeats", "3"], "--repeats must be at least 4"),
    ("bench.kind_cues", ["--timing", "no-such-photo"], "--timing takes ids of the real-photo set"),
    ("bench.kind_cues", ["--check-set", "no-such.json"], "--check-set: no manifest at no-such.json"),
    ("bench.perspective_crop", ["--focals", "28,2"], "--focals takes numbers in [5, 1000] (mm)"),
    ("bench.view_head_variants", ["--front", "-1"], "--front takes numbers in [0, 20]"),
    ("bench.view_head_variants", ["--level", "x"], "--level takes numbers in [0, 20]"),
    ("bench.view_head_variants", ["--with", "no-such-folder"], "--with: no trained folder at no-such-folder")])
def test_real_photo_benches_refuse_bad_arguments_before_any_work(bench, arguments, message, tmp_path,
                                                                 monkeypatch, capsys):
    assert run_bench(monkeypatch, capsys, bench, "--photos", str(tmp_path), *arguments) == 2
    assert message in capsys.readouterr().err.splitlines()[-1]


def run_bench(monkeypatch, capsys, module: str, *arguments: str) -> int:
    """`python -m module arguments...` run in this process (its imports paid once per test worker, not once per
    case as in a subprocess); returns its exit status. Any exception other than the parser's exit fails the
    test, as a traceback would. Nothing heavy may run first: the service's loading is made to fail."""
    import runpy
    import sys

    from bench import service_path

    def no_work(*_args, **_kwargs):
        raise AssertionError(f"{module} started work before checking its arguments")

    monkeypatch.setattr(service_path, "service_path", no_work)
    monkeypatch.setattr(sys, "argv", [module, *arguments])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        runpy.run_module(module, run_name="__main__", alter_sys=False)
    return exited.value.code
