"""Fetching a package's tarball from the npm registry with `npm pack` (setup time, never per request)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

NPM_TIMEOUT_S = 600


class NpmError(ValueError):
    """npm is missing, or `npm pack` failed (unknown package or version, no registry)."""


def tarball_name(package: str, version: str) -> str:
    """The file `npm pack` writes: '@scope/name' becomes 'scope-name-<version>.tgz'."""
    return f"{package.lstrip('@').replace('/', '-')}-{version}.tgz"


def npm_pack(package: str, version: str, workdir: Path, timeout_s: float = NPM_TIMEOUT_S) -> Path:
    """Fetches package@version from the npm registry as a tarball in workdir. Returns its path."""
    npm = shutil.which("npm")
    if npm is None:
        raise NpmError(f"npm is not installed; it is needed to fetch {package}@{version} from the npm registry")
    result = subprocess.run(
        [npm, "pack", f"{package}@{version}", "--silent"], cwd=workdir, capture_output=True,
        text=True, timeout=timeout_s, check=False,
    )
    tarball = Path(workdir) / tarball_name(package, version)
    if result.returncode != 0 or not tarball.is_file():
        raise NpmError(f"npm pack {package}@{version} failed: {result.stderr.strip()[-500:]}")
    return tarball


def sha256_matches(data: bytes, digest: str) -> bool:
    return hashlib.sha256(data).hexdigest() == digest


def has_sha256(path: Path, digest: str) -> bool:
    """True when the file exists and its sha256 is `digest` (hex)."""
    return Path(path).is_file() and sha256_matches(Path(path).read_bytes(), digest)


def write_atomically(dest: Path, data: bytes) -> Path:
    """Writes data to dest through a temporary name and a rename, so readers never see a partial file."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{uuid.uuid4().hex}{dest.suffix}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
