"""Fetch a Debian package with apt-get and unpack it, once, into a directory of our own."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

MARKER = ".photo2cad-deb.json"


class DebianPackageError(ValueError):
    """A Debian package could not be downloaded or unpacked."""


def fetch_deb(package: str, dest_dir: Path) -> Path:
    """Download `package` with `apt-get download` and unpack it to dest_dir/package; return that path.

    Idempotent: a marker file (package, version, sha256 of the .deb) inside the unpacked tree means done,
    and nothing is downloaded then. Atomic: the tree is unpacked in a temporary dir beside it and renamed
    into place, so an interrupted run leaves nothing half-written. Needs root for the one `apt-get
    update` it runs when apt does not know the package yet.
    """
    dest_dir = Path(dest_dir)
    target = dest_dir / package
    if (target / MARKER).is_file():
        return target
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise DebianPackageError(f"{tool} not found: fetching {package} needs a Debian system")
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{package}-", dir=dest_dir) as tmp:
        work = Path(tmp)
        # apt's _apt user must be able to enter the dir, otherwise apt warns and downloads as root.
        work.chmod(0o755)
        deb = _download(package, work)
        root = work / "root"
        _run(["dpkg-deb", "-x", str(deb), str(root)], f"unpacking {deb.name}")
        (root / MARKER).write_text(json.dumps(deb_info(deb), indent=1))
        if target.exists():  # a tree without a marker is left over from by-hand work: replace it
            shutil.rmtree(target)
        os.replace(root, target)
    return target


def deb_info(deb: Path) -> dict[str, str]:
    """Package name, version and sha256 of a .deb file."""
    fields = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"], f"reading {deb.name}")
    info = dict(line.split(": ", 1) for line in fields.splitlines() if ": " in line)
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    return {"package": info.get("Package", ""), "version": info.get("Version", ""),
            "sha256": digest, "deb": deb.name}


def _download(package: str, work: Path) -> Path:
    """`apt-get download` into `work`; on 'Unable to locate', refresh the lists once and retry."""
    result = _apt_download(package, work)
    if result.returncode != 0 and "Unable to locate" in result.stderr:
        update = subprocess.run(["apt-get", "update"], capture_output=True, text=True)
        if update.returncode != 0:
            raise DebianPackageError(f"apt does not know {package!r} and 'apt-get update' failed "
                                     f"(run it as root): {update.stderr.strip()[-300:]}")
        result = _apt_download(package, work)
    if result.returncode != 0:
        hint = (" (not in apt's sources even after 'apt-get update': is its component, e.g. non-free, "
                "enabled?)" if "Unable to locate" in result.stderr else "")
        raise DebianPackageError(f"apt-get download {package} failed{hint}: "
                                 f"{result.stderr.strip()[-400:]}")
    debs = sorted(work.glob(f"{package}_*.deb"))
    if not debs:
        raise DebianPackageError(f"apt-get download {package} succeeded but left no .deb in {work}")
    return debs[0]


def _apt_download(package: str, work: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["apt-get", "download", package], cwd=work, capture_output=True, text=True)


def _run(cmd: list[str], what: str) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise DebianPackageError(f"{what} failed: {result.stderr.strip()[-400:]}")
    return result.stdout
