"""Short licence names for catalogue libraries, from Debian copyright files and catalogue headers."""

from __future__ import annotations

import re
from pathlib import Path


def library_licence(root: Path, package: str, stem: str, header: str | None) -> str:
    """Licence of a library: Debian's copyright stanza for "<stem>/*", else the catalogue's own
    `license=` line, else Debian's stanza for "*", else "unknown"."""
    stanzas = debian_licences(root / "usr/share/doc" / package / "copyright")
    if f"{stem}/*" in stanzas:
        return stanzas[f"{stem}/*"]
    if header:
        return licence_name(header)
    return stanzas.get("*", "unknown")


def debian_licences(path: Path) -> dict[str, str]:
    """{file pattern: short licence name} from a machine-readable debian/copyright file."""
    if not path.is_file():
        return {}
    licences = {}
    for stanza in re.split(r"\n\s*\n", path.read_text(errors="replace")):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", stanza, re.MULTILINE)
        licence = re.search(r"^License:\s*(\S.*)$", stanza, re.MULTILINE)
        if files and licence:
            licences.update({pattern: licence.group(1).strip() for pattern in files.group(1).split()})
    return licences


def licence_name(text: str) -> str:
    """A short licence name for a catalogue's free-text licence line."""
    low = text.lower()
    if "gpl" in low and "cc-by" in low:
        return "GPL-2+ OR CC-BY-3.0"  # GPL version as in Debian's copyright for sweethome3d
    if "public domain" in low or "cc0" in low or "cc-0" in low:
        return "CC0"
    if "free art" in low:
        return "FAL-1.3"
    if "attribution 3.0" in low or "cc-by 3.0" in low:
        return "CC-BY-3.0"
    return text.split("©")[0].strip()
