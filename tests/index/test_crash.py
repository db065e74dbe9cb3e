"""Crash safety of `photo2cad index add`: a real subprocess interrupted by Ctrl-C, then killed with SIGKILL
midway, leaves a consistent index, and a rerun finishes the rest without duplicates."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import faiss
import pytest

from index.build import view_cameras
from index.collection import Collection, ViewConfig
from tests.shapes import make_box_chair, make_sofa, make_stool

REPO = Path(__file__).resolve().parents[2]
CONFIG = ViewConfig(size_px=64, count=2)  # ~76 views a model: long enough to interrupt between models
MODELS = 6
# Like a terminal's child: a shell running the tests in the background may have SIGINT ignored, and
# Python then never raises KeyboardInterrupt.
CLI_WITH_CTRL_C = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                   "runpy.run_module('app.cli', run_name='__main__', alter_sys=True)")


@pytest.fixture
def cad_folder(tmp_path) -> Path:
    """Six distinct tiny models (three shapes, each also stretched)."""
    folder = tmp_path / "cad"
    folder.mkdir()
    for i, make in enumerate([make_box_chair, make_stool, make_sofa] * 2):
        mesh = make()
        if i >= 3:
            mesh.apply_scale((1.0, 1.5, 0.8))
        mesh.export(folder / f"m{i}.{('glb', 'ply', 'obj')[i % 3]}")
    return folder


@pytest.fixture
def env(tmp_path, weights_dir, tiny_embedder):
    """Environment for the CLI, with an empty index made for the tiny (96 px) embedder."""
    Collection.create(tmp_path / "idx", tiny_embedder.info, CONFIG).close()
    yield dict(os.environ, PHOTO2CAD_DATA_DIR=str(tmp_path / "data"), PHOTO2CAD_WEIGHTS_DIR=str(weights_dir),
                PHOTO2CAD_INDEX_DIR=str(tmp_path / "idx"), PHOTO2CAD_RENDER_WORKERS="1")
    _end_orphans(tmp_path / "idx")


def _start(folder: Path, env: dict, log: Path) -> subprocess.Popen:
    """`photo2cad index add folder`, output to log.out / log.err: files, not pipes, so that a render
    worker outliving a killed parent cannot keep the test waiting for end-of-file."""
    with log.with_suffix(".out").open("w") as out, log.with_suffix(".err").open("w") as err:
        return subprocess.Popen([sys.executable, "-X", "faulthandler", "-c", CLI_WITH_CTRL_C, "index", "add",
                                 str(folder)], cwd=REPO, env=env, stdout=out, stderr=err)


def _end_orphans(index: Path) -> int:
    """SIGKILL the processes left by a killed CLI (its render worker waits for jobs forever), found by
    the index folder in their environment: only processes of this test. Returns how many."""
    marker = f"PHOTO2CAD_INDEX_DIR={index}".encode()
    ended = 0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0") and int(proc.name) != os.getpid():
                os.kill(int(proc.name), signal.SIGKILL)
                ended += 1
        except (OSError, ProcessLookupError):
            continue
    return ended


def _orphans_gone(index: Path, wait_s: float = 10.0) -> bool:
    """True once no process of this test's CLI run is left (workers die with their parent)."""
    marker = f"PHOTO2CAD_INDEX_DIR={index}".encode()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        alive = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                status = (proc / "stat").read_text().split(") ")[-1][:1]
                if status != "Z" and marker in (proc / "environ").read_bytes().split(b"\0"):
                    alive.append(proc.name)
            except OSError:
                continue
        if not alive:
            return True
        time.sleep(0.2)
    return False


def _output(log: Path) -> tuple[str, str]:
    return log.with_suffix(".out").read_text(), log.with_suffix(".err").read_text()


def _stored_models(index: Path) -> int:
    db = sqlite3.connect(index / "metadata.sqlite", timeout=10)
    try:
        return db.execute("SELECT COUNT(*) FROM models").fetchone()[0]
    finally:
        db.close()


def _interrupt_after(process: subprocess.Popen, index: Path, models: int, sig: int, log: Path) -> tuple[str, str]:
    """Send `sig` once the store holds more than `models` models (the process still running)."""
    deadline = time.monotonic() + 240  # a hung process fails the test instead of hanging it
    while _stored_models(index) <= models:
        assert process.poll() is None, _output(log)
        assert time.monotonic() < deadline, "no model was stored"
        time.sleep(0.05)
    process.send_signal(sig)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)  # faulthandler prints where it hangs
        process.wait()
        pytest.fail(f"no exit after signal {sig}: {_output(log)[1][-3000:]}")
    return _output(log)


def _raw_state(index: Path) -> dict:
    """What is on disk before anything repairs it: duplicates and incomplete models in the store."""
    db = sqlite3.connect(index / "metadata.sqlite")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        per_model = dict(db.execute("SELECT model_id, COUNT(*) FROM views GROUP BY model_id").fetchall())
        models = [m for (m,) in db.execute("SELECT model_id FROM models")]
        duplicates = db.execute("SELECT COUNT(*) FROM (SELECT model_id, cx, cy, cz FROM views "
                                "GROUP BY model_id, cx, cy, cz HAVING COUNT(*) > 1)").fetchone()[0]
    finally:
        db.close()
    return {"models": models, "per_model": per_model, "duplicates": duplicates,
            "faiss_on_disk": faiss.read_index(str(index / "vectors.faiss")).ntotal}


def _assert_consistent(index: Path) -> Collection:
    views = len(view_cameras(CONFIG))
    raw = _raw_state(index)
    assert raw["duplicates"] == 0
    assert sorted(raw["per_model"]) == sorted(raw["models"]) and set(raw["per_model"].values()) == {views}
    collection = Collection.open(index)  # rebuilds the FAISS file if it lags behind the store
    assert collection.vectors.ntotal == collection.store.count_views() == views * len(raw["models"])
    return collection


def test_ctrl_c_then_kill_then_resume(cad_folder, env, tmp_path):
    index = tmp_path / "idx"
    _, err = _interrupt_after(_start(cad_folder, env, tmp_path / "ctrl-c"), index, 0, signal.SIGINT,
                                tmp_path / "ctrl-c")
    assert "interrupted; work finished so far is kept" in err and "Traceback" not in err
    after_ctrl_c = _stored_models(index)
    assert 1 <= after_ctrl_c < MODELS
    _assert_consistent(index).close()

    killed = _start(cad_folder, env, tmp_path / "kill")
    _interrupt_after(killed, index, after_ctrl_c, signal.SIGKILL, tmp_path / "kill")
    assert killed.returncode == -signal.SIGKILL
    assert _orphans_gone(index), "render workers outlived their killed parent"
    after_kill = _raw_state(index)
    assert after_ctrl_c < len(after_kill["models"]) < MODELS
    assert after_kill["faiss_on_disk"] < sum(after_kill["per_model"].values())  # the file lags: repaired
    _assert_consistent(index).close()

    rerun = subprocess.run([sys.executable, "-m", "app.cli", "index", "add", str(cad_folder)], cwd=REPO,
                           env=env, capture_output=True, text=True, timeout=300, check=False)
    done = len(after_kill["models"])
    assert rerun.returncode == 0, rerun.stderr
    assert f"added {MODELS - done}, updated 0, skipped {done} (unchanged), failed 0" in rerun.stdout
    collection = _assert_consistent(index)
    assert len(collection.store.list_models()) == MODELS
    folders = {p.relative_to(index) for p in (index / "views").glob("*/*")}  # no half-written leftovers
    assert folders == {collection.views_dir(r.model_id).joinpath(r.file_hash[:16]).relative_to(index)
                       for r in collection.store.list_models()}
    collection.close()
