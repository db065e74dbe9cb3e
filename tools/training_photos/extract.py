"""Copy the licensed training photos of a manifest (training_photos/*/manifest.json) out of the fetched
repository snapshots, checking each file's SHA-256: the images are not in git (size), their provenance is.

Run: .venv/bin/python tools/training_photos/extract.py [--manifest training_photos/coco_licensed/manifest.json]
     [--mirrors /work/.mirror] [--out data/training_photos/coco_licensed]
Snapshots are bare git directories <mirrors>/<owner>+<name>/repo (the `fetch` of the repositories named in
the manifest). Exits 1 naming the files that could not be had.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace

from evaluation.real_photo_set import extract


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=Path("training_photos/coco_licensed/manifest.json"))
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--out", type=Path, default=Path("data/training_photos/coco_licensed"))
    args = parser.parse_args()
    if not args.manifest.is_file():
        parser.error(f"--manifest: no manifest at {args.manifest}")
    photos = [SimpleNamespace(id=e["file"], file=e["file"],
                              source={"repository": e["source_repo"], "commit": e["commit"],
                                      "path": e["source_path"], "sha256": e["sha256"]})
              for e in json.loads(args.manifest.read_text())]
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    failed = extract(photos, args.mirrors, args.out)
    if failed:
        print(f"{len(failed)} of {len(photos)} photos could not be had (e.g. {failed[0]})", file=sys.stderr)
        return 1
    (args.out / "manifest.json").write_text(args.manifest.read_text())
    print(f"{len(photos)} photos in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
