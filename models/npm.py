"""Fetching a package's tarball from the npm registry with `npm pack` (setup time, never per request)."""

from __future__ import annotations

import shutil
import subprocess
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
