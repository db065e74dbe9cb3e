"""Indexing on Ray (`--ray`): a real local Ray instance gives the same index as a local run; bad files
fail alone; a missing Ray, an unreachable address and unreadable weights are clear one-line errors."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import bootstrap
from app.settings import Settings
from index.build import index_models
from index.collection import Collection
from index.sources import user_sources
from tests.shapes import make_box_chair, make_sofa, make_stool

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray is not installed (pip install ray==2.60.0)")
GOOD = ["box_chair", "sofa", "stool"]
BAD = {"bad/empty": "file is empty", "bad/nan": "NaN"}


@pytest.fixture(scope="module")
def ray_cluster():
    """A real Ray instance on this machine (2 CPUs) for the module, shut down after it."""
    import ray

    temp_dir = tempfile.mkdtemp(prefix="ray")  # short: Ray's socket paths must fit in 107 bytes
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=200 * 2**20,
             _temp_dir=temp_dir)
    yield ray
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cad_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ray-cad")
    (folder / "bad").mkdir()
    make_box_chair().export(folder / "box_chair.glb")
    make_sofa().export(folder / "sofa.glb")
    make_stool().export(folder / "stool.ply")
    (folder / "bad/empty.stl").write_bytes(b"")
    (folder / "bad/nan.off").write_text("OFF\n3 1 0\n0 0 0\nnan 1 0\n0 1 1\n3 0 1 2\n")
    return folder


def _settings(root: Path, weights_dir: Path) -> Settings:
    return Settings(data_dir=root, weights_dir=weights_dir, view_size_px=64, view_count=1, render_workers=1,
                    _env_file=None)


@pytest.fixture(scope="module")
def both_builds(ray_cluster, cad_folder, tiny_embedder, weights_dir, tmp_path_factory):
    """The same folder indexed locally and on Ray: (local settings, local report, ray settings, ray report)"""
    local = _settings(tmp_path_factory.mktemp("local"), weights_dir)
    local_report = bootstrap.add_files(local, [cad_folder], id_from="path", embedder=tiny_embedder)
    on_ray = _settings(tmp_path_factory.mktemp("ray"), weights_dir)
    ray_report = bootstrap.add_files(on_ray, [cad_folder], id_from="path", embedder=tiny_embedder,
                                     ray_address="local")  # uses the fixture's connection
    return local, local_report, on_ray, ray_report


def _views_by_model(collection: Collection) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """model id -> (cameras (n, 3), embeddings (n, d), image paths), views in camera order."""
    table = collection.store.view_table()
    vectors = dict(kv for ids, rows in collection.store.embeddings() for kv in zip(ids.tolist(), rows))
    found = {}
    for model_id in sorted(set(table.model_ids)):
        rows = np.flatnonzero(table.model_ids == model_id)
        found[model_id] = (table.cameras[rows], np.stack([vectors[i] for i in table.ids[rows]]),
                           list(table.image_paths[rows]))
    return found


@needs_ray
def test_a_ray_run_builds_the_same_index_as_a_local_run(both_builds):
    local, local_report, on_ray, ray_report = both_builds
    assert sorted(ray_report.added) == sorted(local_report.added) == GOOD
    assert ray_report.views == local_report.views == 3 * 24
    a, b = Collection.open(local.resolved_index_dir), Collection.open(on_ray.resolved_index_dir)
    assert a.store.list_models() == b.store.list_models()  # names, paths, hashes, extra (GLB path)
    local_views, ray_views = _views_by_model(a), _views_by_model(b)
    assert list(local_views) == list(ray_views) == GOOD
    for model_id in GOOD:
        (cams_a, emb_a, paths_a), (cams_b, emb_b, paths_b) = local_views[model_id], ray_views[model_id]
        assert np.array_equal(cams_a, cams_b) and paths_a == paths_b
        assert emb_a.dtype == emb_b.dtype == np.float32 and np.abs(emb_a - emb_b).max() < 1e-4
        pixels_a = np.asarray(Image.open(a.root / paths_a[5]), np.int16)
        pixels_b = np.asarray(Image.open(b.root / paths_b[5]), np.int16)
        assert np.abs(pixels_a - pixels_b).max() <= 2  # the same render, JPEG-encoded
    assert b.vectors.ntotal == b.store.count_views() == a.vectors.ntotal
    assert (b.manifest["embedder"], b.manifest["views"], b.manifest["counts"]) == (
        a.manifest["embedder"], a.manifest["views"], a.manifest["counts"])
    a.close()
    b.close()


@needs_ray
def test_bad_files_fail_on_ray_while_the_others_are_indexed(both_builds, cad_folder, tiny_embedder):
    _, local_report, on_ray, ray_report = both_builds
    reasons = dict(ray_report.failed)
    assert set(reasons) == set(BAD) and reasons == dict(local_report.failed)  # the local path's reasons
    for model_id, reason in BAD.items():
        assert reason in reasons[model_id]
    again = bootstrap.add_files(on_ray, [cad_folder], id_from="path", embedder=tiny_embedder,
                                ray_address="local")
    assert sorted(again.skipped) == GOOD and not again.added and set(dict(again.failed)) == set(BAD)


@needs_ray
def test_missing_weights_on_workers_stop_the_run_with_a_clear_error(ray_cluster, cad_folder, tiny_embedder,
                                                                    weights_dir, tmp_path):
    from index.distributed import DistributedError, RayEmbedding

    elsewhere = types.SimpleNamespace(info=tiny_embedder.info,
                                      spec=dataclasses.replace(tiny_embedder.spec, weights="/nowhere/w.h5"))
    settings = _settings(tmp_path, weights_dir)
    collection = bootstrap.open_collection(settings, tiny_embedder)
    source = user_sources([cad_folder / "stool.ply"], tmp_path / "sources").models
    with pytest.raises(DistributedError, match="Ray task for stool failed: .*not found: /nowhere/w.h5"):
        index_models(collection, tiny_embedder, source, progress=False, remote=RayEmbedding(elsewhere))
    assert collection.store.count_views() == 0
    collection.close()


def _cli(*args: str, settings: Settings, env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PHOTO2CAD_DATA_DIR=str(settings.data_dir), **(env or {}))
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True,
                          check=False, env=env, timeout=120)


def _error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("photo2cad")]
    return line


@needs_ray
def test_an_unreachable_address_is_a_one_line_error(cad_folder, tmp_path, weights_dir):
    with socket.socket() as probe:  # a local port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _cli("index", "add", str(cad_folder / "stool.ply"), "--ray", f"127.0.0.1:{port}",
                  settings=_settings(tmp_path, weights_dir))
    assert f"cannot reach Ray at 127.0.0.1:{port}" in _error_line(result)


def test_ray_not_installed_is_a_one_line_error(cad_folder, tmp_path, weights_dir):
    shadow = tmp_path / "no_ray"
    (shadow / "ray").mkdir(parents=True)
    (shadow / "ray/__init__.py").write_text("raise ImportError('No module named ray')\n")
    repo = Path(__file__).resolve().parents[2]
    path = os.pathsep.join([str(shadow), str(repo), os.environ.get("PYTHONPATH", "")])
    result = _cli("index", "add", str(cad_folder / "stool.ply"), "--ray", "auto",
                  settings=_settings(tmp_path / "data", weights_dir), env={"PYTHONPATH": path})
    assert "--ray needs Ray, which is not installed: pip install ray==2.60.0" in _error_line(result)


def test_ray_is_imported_only_by_a_ray_run():
    """The service and the CLI load Ray only for --ray (index.distributed imports it on first use)."""
    code = "import sys, app.main, app.cli, index.distributed; print('ray' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "False"
