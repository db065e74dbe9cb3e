"""The photo2cad command: real subprocesses for exit codes and messages, in-process for the index ops."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from app import bootstrap
from index.collection import Collection
from tests.conftest import held_index_lock


# `photo2cad` in-process, telling on stderr at exit whether it imported TensorFlow.
CLI_TELLING_TF = ("import atexit, runpy, sys\n"
                  "atexit.register(lambda: print('tensorflow imported:', 'tensorflow' in sys.modules,\n"
                  "                              file=sys.stderr))\n"
                  "runpy.run_module('app.cli', run_name='__main__', alter_sys=True)")


def _cli(*args: str, settings=None, data_dir=None, timeout: int = 300,
         telling_tf: bool = False) -> subprocess.CompletedProcess:
    """Runs `photo2cad ARGS` with the folders of `settings` (or just `data_dir`) in its environment;
    telling_tf: its stderr ends with whether it imported TensorFlow."""
    env = dict(os.environ)
    if settings is not None:
        env.update(PHOTO2CAD_DATA_DIR=str(settings.data_dir), PHOTO2CAD_WEIGHTS_DIR=str(settings.weights_dir),
                   PHOTO2CAD_INDEX_DIR=str(settings.resolved_index_dir))
    if data_dir:
        env["PHOTO2CAD_DATA_DIR"] = str(data_dir)
    command = ["-c", CLI_TELLING_TF] if telling_tf else ["-m", "app.cli"]
    return subprocess.run([sys.executable, *command, *args], capture_output=True, text=True, check=False,
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
    assert stats.returncode == 0 and "faiss      Flat" in stats.stdout
    assert "models     3 (" in stats.stdout and "efficientnet_lite0" in stats.stdout
    for kind in ("chair", "stool", "sofa"):
        assert f"  {kind:<9}     1" in stats.stdout
    as_json = json.loads(_cli("index", "stats", "--json", settings=tiny_index_settings).stdout)
    assert as_json["models"] == 3 and as_json["vectors"] == as_json["views"] == 3 * as_json["views_per_model"][0]
    assert as_json["seat_kinds"]["chair"][0] == 1 and as_json["bytes"]["views"] > 0


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


def test_cli_add_of_a_folder_keeps_going_past_bad_files(index_copy, tiny_cad_dir, tmp_path):
    folder = tmp_path / "shop"
    (folder / "stools").mkdir(parents=True)
    shutil.copy(tiny_cad_dir / "stool.ply", folder / "stools" / "stool.ply")
    (folder / "stools" / "broken.obj").write_text("v 0 0 0\nv 1 0 0\nf 1 2 2\n")
    result = _cli("index", "add", str(folder), "--id-from", "path", "--category", "stool", settings=index_copy)
    assert result.returncode == 0, result.stderr
    assert "failed: stools/broken:" in result.stderr and "Traceback" not in result.stderr
    assert "added 1, updated 0, skipped 0 (unchanged), failed 1" in result.stdout
    collection = Collection.open(index_copy.resolved_index_dir)
    assert collection.store.get_model("stools/stool").seat_kind == "stool"
    collection.close()


def test_remove_then_unknown_id(index_copy):
    removed = bootstrap.remove(index_copy, ["test#sofa"])
    assert removed > 50
    collection = Collection.open(index_copy.resolved_index_dir)
    assert collection.store.get_model("test#sofa") is None
    assert collection.vectors.ntotal == collection.store.count_views()
    assert not collection.views_dir("test#sofa").exists()
    result = _cli("index", "remove", "test#sofa", settings=index_copy)
    assert result.returncode == 2 and "no model with id" in result.stderr


def test_a_second_writer_is_refused_at_once_until_the_first_dies(index_copy, tiny_cad_dir):
    """At once: before TensorFlow is imported (seconds of start-up), not after."""
    with held_index_lock(index_copy.resolved_index_dir) as holder:
        for args in (("remove", "test#sofa"), ("add", str(tiny_cad_dir / "stool.ply")), ("build",)):
            refused = _cli("index", *args, settings=index_copy, timeout=60, telling_tf=True)
            assert refused.returncode == 2, refused.stderr
            (message,) = [line for line in refused.stderr.splitlines() if line.startswith("photo2cad")]
            assert f"is being written by another process (pid {holder.pid})" in message
            assert "Traceback" not in refused.stderr
            assert refused.stderr.splitlines()[-1] == "tensorflow imported: False", refused.stderr
    after_kill = _cli("index", "remove", "test#sofa", settings=index_copy)  # the holder was killed (-9)
    assert after_kill.returncode == 0, after_kill.stderr
    assert "removed 1 models" in after_kill.stdout


def test_search_prints_the_answer_and_rejects_non_images(tiny_index_settings, tmp_path):
    import json

    index = tiny_index_settings.resolved_index_dir
    view = next((index / "views").glob("test_box_chair*/**/*.jpg"))  # a rendered view of the box chair
    found = _cli("search", str(view), "--top-k", "2", settings=tiny_index_settings)
    assert found.returncode == 0, found.stderr
    answer = json.loads(found.stdout)
    assert answer["results"][0]["model_id"] == "test#box_chair" and len(answer["results"]) == 2
    (tmp_path / "notes.jpg").write_text("not a picture")
    bad = _cli("search", str(tmp_path / "notes.jpg"), settings=tiny_index_settings, telling_tf=True)
    assert bad.returncode == 2 and "not a recognised image" in bad.stderr and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[-1] == "tensorflow imported: False", bad.stderr  # refused at once


@pytest.mark.parametrize("variable", ["PHOTO2CAD_DETECTOR_TILES", "PHOTO2CAD_VIEW_HEAD",
                                      "PHOTO2CAD_VIEW_HEAD_MIRROR", "PHOTO2CAD_KIND_CUES"])
def test_a_bad_setting_is_a_one_line_error(tmp_path, variable):
    env = dict(os.environ, PHOTO2CAD_DATA_DIR=str(tmp_path), **{variable: "maybe"})
    result = subprocess.run([sys.executable, "-m", "app.cli", "index", "list"], capture_output=True, text=True,
                            check=False, env=env, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert f"{variable}='maybe'" in result.stderr and "boolean" in result.stderr
