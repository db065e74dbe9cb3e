"""fetch_deb without the network: tool checks, the done-marker, and a clear error for apt failures."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from catalogue import debian
from catalogue.debian import MARKER, DebianPackageError, fetch_deb


def test_marker_means_done_without_running_apt(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / MARKER).write_text(json.dumps({"package": "pkg", "version": "1"}))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("apt must not run"))
    assert fetch_deb("pkg", tmp_path) == tmp_path / "pkg"


def test_missing_tools_give_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(debian.shutil, "which", lambda tool: None)
    with pytest.raises(DebianPackageError, match="apt-get not found"):
        fetch_deb("pkg", tmp_path)


def test_unknown_package_after_update_is_reported(tmp_path: Path, monkeypatch) -> None:
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd[:2])
        failed = cmd[1] == "download"
        return subprocess.CompletedProcess(cmd, 100 if failed else 0, "",
                                           "E: Unable to locate package nope" if failed else "")

    monkeypatch.setattr(debian.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(subprocess, "run", fake_run)
    with pytest.raises(DebianPackageError, match="non-free"):
        fetch_deb("nope", tmp_path)
    assert calls == [["apt-get", "download"], ["apt-get", "update"], ["apt-get", "download"]]
    assert not (tmp_path / "nope").exists() and list(tmp_path.iterdir()) == []  # temp dir cleaned
