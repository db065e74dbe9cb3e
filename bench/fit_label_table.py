"""Fit p(detector label | seat kind) (index.scene.LABEL_GIVEN_KIND) on the real photos' dev split.

The seat detector (models.detector, the service's settings) runs on every dev photo as the service loads it
(models.photo.load_photo, 1280 px); each labelled seat matched by a detection (IoU >= 0.5, greedy, as the
evaluation matches) adds one count to (its labelled kind, the detection's label). The fitted row of a kind
is (counts + strength x the hand-set row) / (n + strength): the hand-set table is the prior, so a kind with
few dev seats keeps it. Prints the fitted table as Python and writes JSON (counts, table, date).

    python -m bench.fit_label_table [--strength 5] [--out bench/results/label_table.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from app.bootstrap import load_detector
from app.settings import Settings
from evaluation.real_photo_eval import SeatPrediction, match_seats, photo_bytes
from evaluation.real_photo_set import load_manifest
from index.scene import LABEL_GIVEN_KIND
from models.photo import load_photo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strength", type=float, default=5.0, help="weight of the hand-set prior row, in seats")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--out", type=Path, default=Path("bench/results/label_table.json"))
    args = parser.parse_args()
    settings = Settings()
    detector = load_detector(settings)
    counts = {kind: dict.fromkeys(row, 0) for kind, row in LABEL_GIVEN_KIND.items()}
    for photo in (p for p in load_manifest() if p.split == args.split):
        loaded = load_photo(photo_bytes(settings.data_dir / "realphotos", photo), settings.photo_max_side_px)
        detections = detector.detect(loaded.image)
        predictions = [SeatPrediction(tuple(v * loaded.scale for v in d.box_px), d.label, None) for d in detections]
        for seat, match in zip(photo.seats, match_seats(photo.seats, predictions)):
            if match is not None and seat.kind in counts:
                counts[seat.kind][match.kind] = counts[seat.kind].get(match.kind, 0) + 1
    table = {kind: fitted_row(counts[kind], LABEL_GIVEN_KIND[kind], args.strength) for kind in LABEL_GIVEN_KIND}
    args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "split": args.split,
                                    "strength": args.strength, "counts": counts, "table": table}, indent=1))
    print("LABEL_GIVEN_KIND = {")
    for kind, row in table.items():
        print(f"    {kind!r}: {{{', '.join(f'{label!r}: {p:.2f}' for label, p in row.items())}}},  "
              f"# {sum(counts[kind].values())} dev seats")
    print("}")


def fitted_row(counts: dict[str, int], prior: dict[str, float], strength: float) -> dict[str, float]:
    """(counts + strength x prior) / (n + strength), over the prior's labels; sums to 1."""
    n = sum(counts.get(label, 0) for label in prior)
    return {label: round((counts.get(label, 0) + strength * p) / (n + strength), 4) for label, p in prior.items()}


if __name__ == "__main__":
    main()
