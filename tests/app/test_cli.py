"""The photo2cad command: real subprocesses for exit codes and messages, in-process for the index ops."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from app import bootstrap
from index.collection import Collection


def _cli(*args: str, settings=None, data_dir=None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Runs `photo2cad ARGS` with the folders of `settings` (or just `data_dir`) in its environment."""
    env = dict(os.environ)
    if settings is not None:
        env.update(PHOTO2CAD_DATA_DIR=str(settings.data_dir), PHOTO2CAD_WEIGHTS_DIR=str(settings.weights_dir),
                   PHOTO2CAD_INDEX_DIR=str(settings.resolved_index_dir))
    if data_dir:
        env["PHOTO2CAD_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_help_lists_the_commands():
    result = _cli("--help")
    assert result.returncode == 0
    for command in ("setup", "serve", "search", "index"):
        assert command in result.stdout


def test_missing_index_is_a_one_line_error(tmp_path):
    result = _cli("index", "list", data_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "photo2cad index build" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_command_is_a_usage_error():
    result = _cli("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_list_and_stats_on_the_tiny_index(tiny_index_settings):
    listing = _cli("index", "list", settings=tiny_index_settings)
    assert listing.returncode == 0 and "test#stool" in listing.stdout and "views" in listing.stdout
    stats = _cli("index", "stats", settings=tiny_index_settings)
    assert stats.returncode == 0 and '"faiss_factory": "Flat"' in stats.stdout


@pytest.fixture
def index_copy(tiny_index_settings, tmp_path):
    """A private copy of the tiny index for tests that change it."""
    shutil.copytree(tiny_index_settings.resolved_index_dir, tmp_path / "idx")
    return tiny_index_settings.model_copy(update={"index_dir": tmp_path / "idx"})


def test_add_is_idempotent_and_bad_files_are_reported(index_copy, tiny_cad_dir, tiny_embedder, tmp_path):
    before = Collection.open(index_copy.resolved_index_dir)
    views_before = before.store.count_views()
    before.close()
    again = bootstrap.add_files(index_copy, [tiny_cad_dir / "stool.ply"], model_id="test#stool",
                                embedder=tiny_embedder)
    assert again.skipped == ["test#stool"] and not again.added
    (tmp_path / "broken.obj").write_text("this is not an OBJ file\n")
    report = bootstrap.add_files(index_copy, [tmp_path / "broken.obj"], embedder=tiny_embedder)
    assert report.failed and report.failed[0][0] == "broken" and not report.added
    after = Collection.open(index_copy.resolved_index_dir)
    assert after.store.count_views() == views_before == after.vectors.ntotal


def test_cli_add_of_a_bad_file_exits_non_zero(index_copy, tmp_path):
    (tmp_path / "empty.stl").write_bytes(b"")
    result = _cli("index", "add", str(tmp_path / "empty.stl"), settings=index_copy)
    assert result.returncode == 1, result.stderr
    assert "failed: empty" in result.stderr and "Traceback" not in result.stderr
    missing = _cli("index", "add", str(tmp_path / "nope.obj"), settings=index_copy)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_remove_then_unknown_id(index_copy):
    removed = bootstrap.remove(index_copy, ["test#sofa"])
    assert removed > 50
    collection = Collection.open(index_copy.resolved_index_dir)
    assert collection.store.get_model("test#sofa") is None
    assert collection.vectors.ntotal == collection.store.count_views()
    assert not collection.views_dir("test#sofa").exists()
    result = _cli("index", "remove", "test#sofa", settings=index_copy)
    assert result.returncode == 2 and "no model with id" in result.stderr
