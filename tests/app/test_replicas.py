"""Two `photo2cad serve` processes sharing one index behind Debian's nginx (deploy/nginx.conf's upstream
and proxy settings): identical answers from both, and a CLI change of the index reaching both replicas
through their index watchers (PHOTO2CAD_RELOAD_INTERVAL_S), without a restart or a reload call."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from render.cameras import angles_to_camera
from tests.conftest import render_rgb

REPO = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = pytest.mark.skipif(not Path(NGINX).exists(), reason="needs Debian's nginx (scripts/install.sh --dev)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[dict, str]:
    """GET -> (JSON body, the upstream nginx chose)."""
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response), response.headers.get("X-Upstream", "")


def _post_photo(url: str, photo: bytes) -> tuple[dict, str]:
    boundary = "photo2cad-test"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"c.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + photo + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response), response.headers.get("X-Upstream", "")


def _wait_until(check, what: str, tries: int = 600) -> None:
    """Poll `check()` until true, at most `tries` times 0.5 s apart."""
    for _ in range(tries):
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.5)
    raise AssertionError(f"gave up waiting for {what}")


def _nginx_conf(folder: Path, listen: int, upstreams: list[int]) -> Path:
    """deploy/nginx.conf with this test's ports and a private prefix (pid, logs, temp files)."""
    text = (REPO / "deploy" / "nginx.conf").read_text()
    servers = "".join(f"        server 127.0.0.1:{port};\n" for port in upstreams)
    text = text.replace("        server photo2cad:8000;\n", servers).replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        text = text.replace("http {", f"http {{\n    {name}_temp_path {folder}/{name};", 1)
    path = folder / "nginx.conf"
    path.write_text(f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n" + text.replace("pid ", "#pid "))
    return path


@contextlib.contextmanager
def _processes(commands: list[tuple[list[str], dict]], logs: Path) -> Iterator[None]:
    running = []
    try:
        for i, (command, env) in enumerate(commands):
            log = (logs / f"process{i}.log").open("w")
            running.append((subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT), log))
        yield
    finally:
        for process, log in running:
            process.terminate()
        for process, log in running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


@pytest.fixture
def shared_index(tiny_index_settings, tmp_path):
    shutil.copytree(tiny_index_settings.resolved_index_dir, tmp_path / "idx")
    return tiny_index_settings.model_copy(update={"index_dir": tmp_path / "idx"})


def test_two_replicas_behind_nginx_answer_alike_and_follow_an_index_change(shared_index, tiny_cad_dir,
                                                                          tmp_path):
    env = dict(os.environ, PHOTO2CAD_DATA_DIR=str(shared_index.data_dir),
               PHOTO2CAD_WEIGHTS_DIR=str(shared_index.weights_dir), PHOTO2CAD_INDEX_DIR=str(tmp_path / "idx"),
               PHOTO2CAD_RELOAD_INTERVAL_S="0.5", OMP_NUM_THREADS="1")
    ports, lb = [_free_port(), _free_port()], _free_port()
    replicas = [([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env) for port in ports]
    nginx = ([NGINX, "-c", str(_nginx_conf(tmp_path, lb, ports)), "-g", "daemon off;"], dict(os.environ))
    with _processes([*replicas, nginx], tmp_path):
        for port in ports:
            _wait_until(lambda p=port: _get(f"http://127.0.0.1:{p}/api/health")[0]["status"] == "ok", "replica")
        image = render_rgb(tiny_cad_dir / "box_chair.glb", angles_to_camera(57.0, 33.0)[None], 64)[0]
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        answers = [_post_photo(f"http://127.0.0.1:{lb}/api/search", buffer.getvalue()) for _ in range(6)]
        assert {upstream for _, upstream in answers} == {f"127.0.0.1:{port}" for port in ports}
        assert all(body == answers[0][0] for body, _ in answers)
        assert answers[0][0]["results"][0]["model_id"] == "test#box_chair"

        removed = subprocess.run([sys.executable, "-m", "app.cli", "index", "remove", "test#sofa"], env=env,
                                 capture_output=True, text=True, timeout=300, check=False)
        assert removed.returncode == 0, removed.stderr
        for port in ports:  # each replica reloads by itself
            _wait_until(lambda p=port: _get(f"http://127.0.0.1:{p}/api/health")[0]["index"]["models"] == 2,
                        "the replica to reload", tries=120)
        through_lb = [_get(f"http://127.0.0.1:{lb}/api/models") for _ in range(4)]
        assert {upstream for _, upstream in through_lb} == {f"127.0.0.1:{port}" for port in ports}
        assert all(body["count"] == 2 for body, _ in through_lb)
