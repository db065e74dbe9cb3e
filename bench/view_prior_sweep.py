"""The viewpoint head as a pose prior on real photographs: retrieval alone, the head alone, and their product
over a grid of head exponents and retrieval temperatures.

Run: PHOTO2CAD_DATA_DIR=$PWD/data .venv/bin/python -m bench.view_prior_sweep [--photos data/realphotos]
Through the service's path (evaluation.real_photo_report.photo_answerer: tiled detector, the configured
index and embedder, shipped calibration, top-1 model) with the prior off, each answered seat's query vector
and its top model's retrieved views (cameras, similarities, symmetry) are recorded; then each setting
re-estimates the pose with index.pose.estimate_pose: weights exp((s - s_best) / temperature) x
p_head(camera)^exponent. Scores: main seat and per seat, view within 45 deg and flips (azimuth, as in
evaluation.real_photo_eval), per split. The shipped setting (index.search.VIEW_PRIOR_TEMPERATURE, exponent
1) was chosen on dev. Writes bench/results/view_prior_sweep.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from app import bootstrap
from app.settings import Settings
from evaluation.real_photo_eval import SeatPrediction, score_photos
from evaluation.real_photo_report import photo_answerer
from evaluation.real_photo_set import load_manifest, missing_photos
from index import search
from index.calibration import shipped_calibration
from index.collection import Collection
from index.pose import estimate_pose
from index.view_prior import own_view_prior
from models.detector import SeatDetector

EXPONENTS = (0.0, 0.5, 1.0, 1.5, 2.0)
TEMPERATURES = (0.02, 0.03, 0.05, 0.08)


def recorded_seats(settings: Settings, photos, photos_dir: Path):
    """Per photo, its answered seats: (box, seat kind, query vector, (cameras, sims, symmetry)); and the
    embedder's view prior."""
    collection = Collection.open(settings.resolved_index_dir)
    embedder = bootstrap.load_embedder(settings)
    searcher = search.Searcher(collection, embedder, calibration=shipped_calibration(collection.manifest),
                               view_prior=False)
    prior = own_view_prior(embedder, collection.view_config)
    calls, vectors = [], []
    shipped_pose, shipped_embed = search.estimate_pose, searcher.embed

    def spy_pose(cameras, sims, spacing, symmetry, **options):
        calls.append((np.array(cameras), np.array(sims), spacing, symmetry))
        return shipped_pose(cameras, sims, spacing, symmetry, **options)

    def spy_embed(images):
        out = shipped_embed(images)
        vectors.extend(out)
        return out

    search.estimate_pose, searcher.embed = spy_pose, spy_embed
    try:
        answer, seats = photo_answerer(searcher, SeatDetector(settings.detector_dir)), {}
        for photo in photos:
            calls.clear(), vectors.clear()
            predictions = answer((photos_dir / photo.file).read_bytes())
            seats[photo.id] = [(p.box, p.kind, v, c) for p, v, c in zip(predictions, vectors, calls, strict=True)]
    finally:
        search.estimate_pose = shipped_pose
    return seats, prior


def camera(vector, call, prior, exponent: float | str, temperature: float) -> np.ndarray:
    """The pose's camera for one setting; exponent "head": the head's most probable grid camera;
    "retrieval": no prior."""
    probabilities = prior.probabilities(vector[None])[0]
    cameras, sims, spacing, symmetry = call
    if exponent == "head":
        return prior.grid[np.argmax(probabilities)]
    if exponent == "retrieval":
        return estimate_pose(cameras, sims, spacing, symmetry).camera
    return estimate_pose(cameras, sims, spacing, symmetry, temperature=temperature,
                         prior=prior.at(probabilities, cameras) ** exponent).camera


def scores(photos, seats, prior, exponent, temperature) -> dict:
    predictions = [[SeatPrediction(box, kind, tuple(float(x) for x in camera(v, call, prior, exponent, temperature)))
                    for box, kind, v, call in seats[p.id]] for p in photos]
    out = {}
    for split in ("dev", "test"):
        chosen = [i for i, p in enumerate(photos) if p.split == split]
        result = score_photos([photos[i] for i in chosen], [predictions[i] for i in chosen], boxes=True)
        main, per_seat = result["main"]["view"], result["seats"]["view"]
        out[split] = {"main_view_45": round(main["within_45"], 3), "main_flips": round(main["flips"], 3),
                      "seat_view_45": round(per_seat["within_45"], 3), "seat_flips": round(per_seat["flips"], 3)}
    return out


def run(photos_dir: Path) -> dict:
    settings = Settings()
    photos = load_manifest()
    seats, prior = recorded_seats(settings, photos, photos_dir)
    if prior is None:
        raise SystemExit(f"{settings.embedder} has no viewpoint head that fits its index's grid")
    rows = [{"setting": name, **scores(photos, seats, prior, name.split()[0], 0.02)}
            for name in ("retrieval alone", "head alone")]
    rows += [{"setting": f"exponent {e}, temperature {t}", "exponent": e, "temperature": t,
              **scores(photos, seats, prior, e, t)} for e in EXPONENTS for t in TEMPERATURES]
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": settings.embedder,
            "photos": len(photos), "note": "exponent 0, temperature 0.02 is retrieval alone",
            "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=Path("data/realphotos"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/view_prior_sweep.json"))
    args = parser.parse_args()
    if (missing := missing_photos(load_manifest(), args.photos)) is not None:
        parser.error(missing)
    report = run(args.photos)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for row in report["rows"]:
        print(row)


if __name__ == "__main__":
    main()
