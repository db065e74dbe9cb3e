"""Pose calibrations compared on the real photographs: do their stated error bars hold?

Each calibration artefact (e.g. fitted by `photo2cad calibrate --unseen-share S --out F`) is applied to the
configured embedder's index and the real-photo set is answered through the service's path (detector + per-seat
search, and the whole image), exactly as `photo2cad evaluate --sets real` does; reported per split: the
main seats' error-bar figures of evaluation.real_photo_eval.bar_summary (within the 68 % / 90 % bound plus
half a labelled sector, median stated 68 % bound, confident flips). Dev chooses, test reports.

    PHOTO2CAD_EMBEDDER=lite0_finetuned python -m bench.calibration_real_photos CAL.json [CAL.json ...] \
        [--out bench/results/calibration_real_photos.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from app import bootstrap
from app.settings import Settings
from evaluation.real_photo_eval import evaluate_answerer
from evaluation.real_photo_report import DETECTOR, WHOLE, photo_answerer
from evaluation.real_photo_set import load_manifest
from index.calibration import PoseCalibration
from index.collection import Collection
from index.search import Searcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("calibrations", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=Path("bench/results/calibration_real_photos.json"))
    args = parser.parse_args()
    settings = Settings()
    collection = Collection.open(settings.resolved_index_dir)
    embedder = bootstrap.load_embedder(settings)
    detector = bootstrap.load_detector(settings)
    photos = load_manifest()
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "embedder": embedder.info.name,
               "index": str(settings.resolved_index_dir), "calibrations": {}}
    for path in args.calibrations:
        calibration = PoseCalibration.load(path)
        calibration.check_index(collection.manifest)
        searcher = Searcher(collection, embedder, calibration=calibration)
        figures = {}
        modes = ((DETECTOR, photo_answerer(searcher, detector)), (WHOLE, photo_answerer(searcher)))
        for mode, answerer in modes:
            scores = evaluate_answerer(answerer, photos, settings.data_dir / "realphotos", boxes=True)
            figures[mode] = {split: scores[split]["main"]["error_bars"] for split in ("dev", "test", "all")}
            print(path.name, mode, json.dumps({s: {k: round(v, 2) for k, v in f.items()}
                                               for s, f in figures[mode].items()}), flush=True)
        results["calibrations"][str(path)] = {"data": calibration.manifest.get("data"), "figures": figures}
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
