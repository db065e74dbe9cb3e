"""Versions of the installed packages, recorded with every artifact (index manifest, trained model)."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata


def installed_versions(packages: Iterable[str]) -> dict[str, str]:
    """{"python": ..., package: version} for the packages that are installed (others are left out)."""
    found = {"python": platform.python_version()}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found
