"""The Docker image for real: built offline (scripts/docker_build.sh) when the engine lacks it, started with
no network at all, its index built at first start, a photo POSTed from inside, a warm restart
(scripts/docker_smoke.sh, here on 2 catalogue models). A release check, too slow for the suite (about an
hour from nothing on 2 cores): `pytest -m release tests/test_docker_image.py` with dockerd running;
skipped only where no Docker engine runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from index.collection import safe_name

REPO = Path(__file__).resolve().parents[1]
IMAGE = os.environ.get("PHOTO2CAD_TEST_IMAGE", "photo2cad:latest")


def _engine_runs() -> bool:
    return bool(shutil.which("docker")) and subprocess.run(["docker", "info"], capture_output=True,
                                                           check=False).returncode == 0


pytestmark = [pytest.mark.release, pytest.mark.skipif(not _engine_runs(), reason="no Docker engine runs here")]


@pytest.mark.timeout(7200)  # building the image from nothing takes long on a small machine
def test_the_image_starts_offline_builds_its_index_and_answers_a_photo():
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode:
        built = subprocess.run([str(REPO / "scripts/docker_build.sh")], env=dict(os.environ, TAG=IMAGE),
                               capture_output=True, text=True, check=False)
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    smoke = subprocess.run([str(REPO / "scripts/docker_smoke.sh")], env=dict(os.environ, IMAGE=IMAGE, LIMIT="2"),
                           capture_output=True, text=True, check=False, timeout=3600)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    figures = dict(re.findall(r"(\w+)=(\S+)", smoke.stdout))
    assert int(figures["results"]) == 2 and int(figures["models"]) == 2
    # The photo is a view of one of the two indexed models: the image must find that model first.
    assert figures["photo"].split("/")[2] == safe_name(figures["top_model"])
