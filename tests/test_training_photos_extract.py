"""tools/training_photos/extract.py on a real (tiny) bare git snapshot: copies a photo whose SHA-256 matches,
refuses one that does not or a missing snapshot with a one-line error and exit 1, and a missing manifest
with a usage error; no traceback, nothing half-written."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "training_photos" / "extract.py"
ROOT = TOOL.parents[2]


def _snapshot(mirrors: Path, data: bytes) -> str:
    """A bare repository mirrors/owner+name/repo holding photos/a.jpg; returns its commit."""
    work = mirrors.parent / "work"
    work.mkdir()
    (work / "photos").mkdir()
    (work / "photos" / "a.jpg").write_bytes(data)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(work)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "photo"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(mirrors / "owner+name" / "repo")], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def _manifest(path: Path, commit: str, sha256: str) -> Path:
    entry = {"file": "images/a.jpg", "source_repo": "owner/name", "source_path": "photos/a.jpg", "commit": commit,
             "sha256": sha256, "licence": "CC BY 2.0", "seats": [{"kind": "chair", "box": [0, 0, 5, 5]}]}
    path.write_text(json.dumps([entry]))
    return path


def test_a_photo_is_copied_only_when_its_hash_matches(tmp_path):
    data = b"not really a jpeg, but bytes with a hash"
    commit = _snapshot(tmp_path / "mirrors", data)
    good = _manifest(tmp_path / "good.json", commit, hashlib.sha256(data).hexdigest())
    done = _run("--manifest", str(good), "--mirrors", str(tmp_path / "mirrors"), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "images" / "a.jpg").read_bytes() == data
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())[0]["commit"] == commit

    bad = _manifest(tmp_path / "bad.json", commit, "0" * 64)
    done = _run("--manifest", str(bad), "--mirrors", str(tmp_path / "mirrors"), "--out", str(tmp_path / "out2"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "1 of 1 photos could not be had (e.g. images/a.jpg)"
    assert not (tmp_path / "out2" / "images" / "a.jpg").exists() and not (tmp_path / "out2" / "manifest.json").exists()


def test_missing_snapshots_and_a_missing_manifest_are_one_line_errors(tmp_path):
    manifest = _manifest(tmp_path / "m.json", "a" * 40, "b" * 64)
    done = _run("--manifest", str(manifest), "--mirrors", str(tmp_path / "none"), "--out", str(tmp_path / "out"))
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "could not be had" in done.stderr
    done = _run("--manifest", str(tmp_path / "no.json"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"--manifest: no manifest at {tmp_path / 'no.json'}" in done.stderr.splitlines()[-1]
