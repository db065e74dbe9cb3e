"""render_jobs: spawn workers, per-job errors, crashes, early stop, and a TensorFlow parent."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from render.cameras import angles_to_camera
from render.pool import WORKER_NAME, RenderJob, RenderResult, render_jobs

CAMERAS = angles_to_camera(np.array([90.0, 60.0, 30.0]), np.array([0.0, 120.0, 240.0]))


class _ExitOnUnpickle:
    """Unpickling this in a worker kills the worker process, like a segfault in Mesa would."""

    def __reduce__(self):
        return os._exit, (3,)


def _render_workers() -> list[mp.process.BaseProcess]:
    return [p for p in mp.active_children() if p.name.startswith(WORKER_NAME)]


def _jobs(chair_files: dict[str, Path], bad: Path) -> list[RenderJob]:
    paths = {"obj": chair_files["obj"], "ply": chair_files["ply"], "bad": bad}
    return [RenderJob(key, str(path), None, None, CAMERAS, 32) for key, path in paths.items()]


@pytest.fixture
def not_a_mesh(tmp_path: Path) -> Path:
    (tmp_path / "notes.obj").write_text("just some text\n")
    return tmp_path / "notes.obj"


def _render_locally(jobs: list[RenderJob]) -> dict[str, RenderResult]:
    return {r.key: r for r in render_jobs(jobs, workers=0)}


def test_spawn_workers_match_in_process_renders(
    clean_process, chair_files: dict[str, Path], not_a_mesh: Path
) -> None:
    jobs = _jobs(chair_files, not_a_mesh)
    pooled = {r.key: r for r in render_jobs(jobs, workers=2)}
    local = clean_process(_render_locally, jobs)  # workers=0 renders in the (TensorFlow-free) caller
    assert set(pooled) == set(local) == {"obj", "ply", "bad"}
    for key in ("obj", "ply"):
        assert pooled[key].error is None and pooled[key].images.shape == (3, 32, 32, 4)
        np.testing.assert_array_equal(pooled[key].images, local[key].images)
    assert pooled["bad"].images is None and "MeshError: no triangle geometry" in pooled["bad"].error
    assert not _render_workers()


def test_crashed_worker_is_reported_and_replaced(chair_files: dict[str, Path]) -> None:
    good = RenderJob("good", str(chair_files["off"]), None, None, CAMERAS[:1], 32)
    crash = RenderJob("crash", str(chair_files["off"]), None, None, _ExitOnUnpickle(), 32)
    results = {r.key: r for r in render_jobs([crash, good], workers=1)}
    assert results["crash"].error == "worker process died (exit code 3)"
    assert results["good"].error is None and results["good"].images[..., 3].any()


def test_stopping_early_ends_the_workers(chair_files: dict[str, Path]) -> None:
    jobs = [RenderJob(str(i), str(chair_files["stl"]), None, None, CAMERAS, 32) for i in range(6)]
    results = render_jobs(jobs, workers=2)
    assert isinstance(next(results), RenderResult)
    results.close()
    assert not _render_workers()


def test_keyboard_interrupt_ends_the_workers(chair_files: dict[str, Path]) -> None:
    def interrupted_jobs() -> Iterator[RenderJob]:
        yield from [RenderJob(str(i), str(chair_files["stl"]), None, None, CAMERAS, 32) for i in range(2)]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        list(render_jobs(interrupted_jobs(), workers=2))
    assert not _render_workers()


def test_workers_render_under_a_tensorflow_parent(chair_files: dict[str, Path], tmp_path: Path) -> None:
    # Run as a script file: spawn would re-import a script __main__ (and its TensorFlow) in the workers.
    script = tmp_path / "tf_parent.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        import numpy as np
        import tensorflow as tf
        from render.pool import RenderJob, render_jobs

        if __name__ == "__main__":
            assert tf.reduce_sum(tf.ones(3)).numpy() == 3.0
            assert "OpenGL" not in sys.modules, "render.pool loaded OpenGL next to TensorFlow"
            try:
                import render.renderer
            except RuntimeError as exc:
                refused = "TensorFlow" in str(exc)
            cams = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
            jobs = [RenderJob(k, p, None, None, cams, 32) for k, p in [("glb", {str(chair_files["glb"])!r})]]
            jobs.append(RenderJob("bad", {str(chair_files["glb"])!r} + ".missing.obj", None, None, cams, 32))
            out = {{r.key: [r.error, None if r.images is None else int(r.images[..., 3].sum() // 255)]
                   for r in render_jobs(jobs, workers=2)}}
            print(json.dumps({{"refused": refused, "results": out}}))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["refused"] is True
    assert report["results"]["glb"][0] is None and report["results"]["glb"][1] > 100
    assert "no such file" in report["results"]["bad"][0]


def test_seeded_random_lighting_is_per_view_and_repeatable(chair_files: dict[str, Path]) -> None:
    cams = np.repeat(CAMERAS[:1], 3, axis=0)  # one camera three times: only the lighting can differ
    path = str(chair_files["obj"])
    jobs = [RenderJob("plain", path, None, None, cams, 32), RenderJob("lit", path, None, None, cams, 32, 7),
            RenderJob("again", path, None, None, cams, 32, 7)]
    out = {r.key: r.images for r in render_jobs(jobs, workers=1)}
    plain, lit = out["plain"].astype(int), out["lit"].astype(int)
    assert (plain[0] == plain[1]).all() and (plain[0] == plain[2]).all()
    covered = plain[0, ..., 3] > 0
    assert np.abs(lit[0] - lit[1])[covered, :3].mean() > 2  # each view its own light
    assert np.abs(lit[0] - plain[0])[covered, :3].mean() > 2
    np.testing.assert_array_equal(out["lit"], out["again"])  # same seed, same images
    np.testing.assert_array_equal(lit[..., 3], plain[..., 3])  # lighting never changes the silhouette
