"""The real-photo development set: its manifest (sources, licences, labels, split) and its extraction.

The photographs are not in git (their licences do not allow redistribution, see the manifest); each is
named by repository, commit, path and sha256, and `python -m evaluation.real_photo_set extract` copies them
out of the fetched repository snapshots (bare git directories, e.g. /work/.mirror/<owner>+<name>/repo)
into a data folder. Conventions (views, boxes, split) are in evaluation/realphotos/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from catalogue.seats import SEAT_KINDS

MANIFEST = Path(__file__).resolve().parent / "realphotos" / "manifest.json"
# Where the camera is, seen from the seat: azimuth from the seat's front towards its +X side (the side on
# the viewer's right when facing the seat), as render.cameras. "right" views show the seat facing left.
VIEW_AZIMUTH_DEG = {"front": 0.0, "front-right": 45.0, "right": 90.0, "back-right": 135.0, "back": 180.0,
                    "back-left": 225.0, "left": 270.0, "front-left": 315.0}
ELEVATION_POLAR_DEG = {"level": 75.0, "above": 50.0}  # representative polar angle of each coarse elevation
SYMMETRIES = ("none", "180", "any")  # "180": front and back look alike (a bench); "any": view not scored
SPLITS = ("dev", "test")
SOURCE_FIELDS = ("repository", "commit", "path", "sha256", "licence", "redistributable")


class ManifestError(ValueError):
    """A manifest entry that does not follow the schema, or a photo that cannot be extracted."""


@dataclass(frozen=True)
class LabelledSeat:
    """One seat in a photo: box (x0, y0, x1, y1) px of the image after EXIF rotation; coarse view and
    elevation (keys of VIEW_AZIMUTH_DEG and ELEVATION_POLAR_DEG, view "any" when not scored)."""

    kind: str
    box: tuple[float, float, float, float]
    view: str
    elevation: str
    occluded: bool = False
    truncated: bool = False
    symmetry: str = "none"

    @property
    def azimuth_deg(self) -> float | None:
        return None if self.view == "any" else VIEW_AZIMUTH_DEG[self.view]

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


@dataclass(frozen=True)
class RealPhoto:
    """One photograph: file name in the data folder, size (px, after EXIF rotation), provenance, split,
    the kind of its main (largest) seat and every labelled seat."""

    id: str
    file: str
    width: int
    height: int
    source: dict
    split: str
    kind: str
    seats: tuple[LabelledSeat, ...]

    @property
    def main_seat(self) -> LabelledSeat:
        return max(self.seats, key=lambda seat: seat.area)


def load_manifest(path: Path = MANIFEST) -> list[RealPhoto]:
    """Every photo of a manifest, checked against the schema (ManifestError names the bad entry)."""
    raw = json.loads(Path(path).read_text())
    photos = [_photo(entry) for entry in raw["images"]]
    ids = [p.id for p in photos]
    if len(set(ids)) != len(ids):
        raise ManifestError("photo ids are not unique")
    return photos


def _photo(entry: dict) -> RealPhoto:
    where = entry.get("id", "?")
    missing = [f for f in SOURCE_FIELDS if f not in entry.get("source", {})]
    if missing:
        raise ManifestError(f"{where}: source lacks {', '.join(missing)}")
    if entry.get("split") not in SPLITS:
        raise ManifestError(f"{where}: split must be one of {SPLITS}")
    seats = tuple(_seat(where, s, entry["width"], entry["height"]) for s in entry.get("seats", []))
    if not seats:
        raise ManifestError(f"{where}: no labelled seat")
    photo = RealPhoto(entry["id"], entry["file"], entry["width"], entry["height"], entry["source"],
                      entry["split"], entry["kind"], seats)
    if photo.kind != photo.main_seat.kind:
        raise ManifestError(f"{where}: kind {photo.kind} is not its largest seat's ({photo.main_seat.kind})")
    return photo


def _seat(where: str, raw: dict, width: int, height: int) -> LabelledSeat:
    seat = LabelledSeat(raw["kind"], tuple(float(v) for v in raw["box"]), raw["view"], raw["elevation"],
                        bool(raw.get("occluded")), bool(raw.get("truncated")), raw.get("symmetry", "none"))
    x0, y0, x1, y1 = seat.box
    problems = [seat.kind not in SEAT_KINDS and f"kind {seat.kind!r}",
                seat.view not in VIEW_AZIMUTH_DEG and seat.view != "any" and f"view {seat.view!r}",
                seat.elevation not in ELEVATION_POLAR_DEG and f"elevation {seat.elevation!r}",
                seat.symmetry not in SYMMETRIES and f"symmetry {seat.symmetry!r}",
                (seat.view == "any") != (seat.symmetry == "any") and "view 'any' goes with symmetry 'any'",
                not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height) and f"box {seat.box} outside the image"]
    problems = [p for p in problems if p]
    if problems:
        raise ManifestError(f"{where}: {'; '.join(problems)}")
    return seat


def missing_photos(photos: list[RealPhoto], images_dir: Path) -> str | None:
    """None when every photo's file is in images_dir, else a one-line message saying how to extract them."""
    missing = [p.file for p in photos if not (Path(images_dir) / p.file).is_file()]
    if not missing:
        return None
    return (f"{len(missing)} of the {len(photos)} real photos are not in {images_dir} (e.g. {missing[0]}): "
            f"python -m evaluation.real_photo_set extract --mirrors <snapshots> --out {images_dir}")


def snapshot_dir(mirrors_dir: Path, repository: str) -> Path:
    """The bare git directory of a fetched snapshot: mirrors_dir/<owner>+<name>/repo."""
    return Path(mirrors_dir) / repository.replace("/", "+") / "repo"


def extract(photos: list[RealPhoto], mirrors_dir: Path, out_dir: Path) -> list[str]:
    """Copy every photo (`git show commit:path` in its snapshot) into out_dir as photo.file, checking its
    sha256; photos already there with the right hash are kept. Returns the ids that could not be had."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for photo in photos:
        target = out_dir / photo.file
        if target.exists() and _sha256(target.read_bytes()) == photo.source["sha256"]:
            continue
        data = _git_show(snapshot_dir(mirrors_dir, photo.source["repository"]), photo.source)
        if data is None or _sha256(data) != photo.source["sha256"]:
            failed.append(photo.id)
            continue
        target.write_bytes(data)
    return failed


def _git_show(git_dir: Path, source: dict) -> bytes | None:
    if not git_dir.is_dir():
        return None
    done = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{source['commit']}:{source['path']}"],
                          capture_output=True, check=False)
    return done.stdout if done.returncode == 0 else None


def batch_splits(entries: list[dict], seed: int) -> dict[str, str]:
    """The split of each photo of a batch added to the set (README "Split"): for each main seat kind in
    sorted order, the batch's ids of that kind sorted, permuted by one numpy default_rng(seed) shared by the
    kinds, then dev and test alternately starting with dev. entries: manifest entries (id, kind). Returns
    id -> "dev" | "test". Earlier batches keep their splits: a batch is split on its own."""
    import numpy as np

    rng, splits = np.random.default_rng(seed), {}
    for kind in sorted({e["kind"] for e in entries}):
        ids = rng.permutation(sorted(e["id"] for e in entries if e["kind"] == kind))
        splits.update({str(photo_id): SPLITS[i % 2] for i, photo_id in enumerate(ids)})
    return splits


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """`list`: where every photo comes from; `extract --mirrors DIR --out DIR`: copy them out."""
    parser = argparse.ArgumentParser(prog="python -m evaluation.real_photo_set", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("list", "extract"))
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--out", type=Path, default=Path("data/realphotos"))
    args = parser.parse_args(argv)
    photos = load_manifest(args.manifest)
    if args.action == "list":
        for p in photos:
            print(f"{p.id}\t{p.source['repository']}@{p.source['commit'][:12]}:{p.source['path']}\t"
                  f"{p.source['licence'][:60]}")
        return 0
    failed = extract(photos, args.mirrors, args.out)
    print(f"{len(photos) - len(failed)} of {len(photos)} photos in {args.out}"
          + (f"; missing (fetch their repositories first): {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
