"""Two answerers on the same real photos, photo by photo: which photos one gets right and the other wrong.

Two runs of `photo2cad evaluate --sets real` (their evaluation_realphotos.json) are compared on the main seat
of each photo, detector mode (the service's): seat kind right, view within VIEW_TOLERANCE_DEG, flip beyond
FLIP_DEG (as evaluation.real_photo_eval scores them). Figures on about 100 photos move by 0.02 a photo, and
two answerers' 95 % intervals overlap widely even when one is better; but both answer the same photos, so
the photos where they differ tell them apart: McNemar's exact test, a two-sided binomial test with p = 1/2
on the discordant photos (fixed: wrong in A and right in B; broken: the other way round). A p-value above
0.05 says the set cannot tell A and B apart on that figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from math import comb
from pathlib import Path

from evaluation.real_photo_eval import FLIP_DEG, VIEW_TOLERANCE_DEG, SeatPrediction, score_seat
from evaluation.real_photo_set import MANIFEST, RealPhoto, load_manifest
from render.cameras import angles_to_camera

MODE = "detector + per-seat search"
MEASURES = ("kind", "view_45", "flip")  # flip: an answer with a flip is "right" when it is not a flip


def main_seat_outcomes(photos: list[RealPhoto], per_photo: list[dict]) -> dict[str, dict[str, bool | None]]:
    """Per photo id: {"kind": right, "view_45": within tolerance, "flip": not a flip} for the first answer
    against the main seat; view measures are None for a seat labelled "any"; a missing answer is neither
    within tolerance nor a flip (as real_photo_eval.view_summary counts it).
    per_photo: an evaluation's "per_photo" list ({"id", "predicted": [{"kind", "azimuth_deg"}, ...]})."""
    answers = {p["id"]: p["predicted"] for p in per_photo}
    missing = [p.id for p in photos if p.id not in answers]
    if missing:
        raise ValueError(f"the evaluation has no answers for {len(missing)} photos (first: {missing[0]}): "
                         "was it run on another version of the real-photo set?")
    return {photo.id: _outcome(photo, answers[photo.id][0] if answers[photo.id] else None) for photo in photos}


def _outcome(photo: RealPhoto, first: dict | None) -> dict[str, bool | None]:
    """real_photo_eval.score_seat's row of the first answer (its azimuth read as a level camera)."""
    azimuth = None if first is None else first.get("azimuth_deg")
    camera = None if azimuth is None else tuple(angles_to_camera(90.0, azimuth))
    prediction = None if first is None else SeatPrediction(tuple(first["box"]), first["kind"], camera)
    row = score_seat(photo.main_seat, prediction)
    if "view_error_deg" not in row:
        return {"kind": row["kind_right"], "view_45": None, "flip": None}
    error = row["view_error_deg"]  # None without an answer: neither right nor a flip
    return {"kind": row["kind_right"], "view_45": error is not None and error <= VIEW_TOLERANCE_DEG,
            "flip": error is None or error <= FLIP_DEG}  # "flip" True: not a flip


def mcnemar_p(fixed: int, broken: int) -> float:
    """Two-sided exact McNemar p-value: the chance of a split of the discordant photos at least this uneven
    if either answerer were as likely to win each. 1.0 with no discordant photo."""
    n = fixed + broken
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(fixed, broken) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def compare(photos: list[RealPhoto], a: dict[str, dict], b: dict[str, dict]) -> dict:
    """main_seat_outcomes of A and B -> per split ("all" and each photo split) and measure: scored photos,
    A's and B's rates, fixed, broken, McNemar's p. Rates of "flip" are flip rates (lower is better)."""
    result = {}
    for split in ["all", *sorted({p.split for p in photos})]:
        ids = [p.id for p in photos if split in ("all", p.split)]
        result[split] = {m: _measure([(a[i][m], b[i][m]) for i in ids if a[i][m] is not None], m == "flip")
                         for m in MEASURES}
    return result


def _measure(pairs: list[tuple[bool, bool]], flip: bool) -> dict:
    n = len(pairs)
    fixed = sum(1 for x, y in pairs if not x and y)
    broken = sum(1 for x, y in pairs if x and not y)

    def rate(values) -> float:
        share = sum(values) / n if n else float("nan")
        return round(1 - share if flip else share, 3)

    return {"n": n, "a": rate(x for x, _ in pairs), "b": rate(y for _, y in pairs), "fixed": fixed,
            "broken": broken, "p": round(mcnemar_p(fixed, broken), 4)}


def load_run(path: Path, target: str | None) -> tuple[str, list[dict]]:
    """(target name, per_photo) of an evaluation_realphotos.json: the named target, else its first."""
    results = json.loads(Path(path).read_text())["targets"]
    name = target or next(iter(results))
    if name not in results:
        raise ValueError(f"{path} has no target {name!r}; it has: {', '.join(results)}")
    return name, results[name][MODE]["per_photo"]


def render_table(result: dict, a_name: str, b_name: str) -> str:
    """A Markdown table of compare()'s result."""
    lines = [f"A: {a_name}; B: {b_name}. Main seat, detector mode. fixed: wrong in A, right in B (for flips: a "
             "flip in A, none in B); broken: the other way round; p: McNemar's exact test.", "",
             "| split | measure | photos | A | B | fixed | broken | p |", "|---|---|---|---|---|---|---|---|"]
    for split, measures in result.items():
        for name, m in measures.items():
            lines.append(f"| {split} | {name} | {m['n']} | {m['a']:.2f} | {m['b']:.2f} | {m['fixed']} | "
                         f"{m['broken']} | {m['p']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.compare", description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path, help="evaluation_realphotos.json of answerer A (the baseline)")
    parser.add_argument("b", type=Path, help="evaluation_realphotos.json of answerer B")
    parser.add_argument("--target-a", default=None, help="A's embedder / index (default: its first)")
    parser.add_argument("--target-b", default=None, help="B's embedder / index (default: its first)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--json", type=Path, default=None, help="also write the comparison here")
    args = parser.parse_args(argv)
    try:
        photos = load_manifest(args.manifest)
        a_name, a_runs = load_run(args.a, args.target_a)
        b_name, b_runs = load_run(args.b, args.target_b)
        result = compare(photos, main_seat_outcomes(photos, a_runs), main_seat_outcomes(photos, b_runs))
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(render_table(result, f"{args.a} ({a_name})", f"{args.b} ({b_name})"))
    if args.json:
        args.json.write_text(json.dumps({"a": [str(args.a), a_name], "b": [str(args.b), b_name],
                                         "result": result}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
