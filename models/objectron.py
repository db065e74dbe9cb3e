"""Google's Objectron chair model (MediaPipe, npm @mediapipe/objectron) as an outside pose baseline:
one image in, the camera's polar/azimuth in our convention out.

The model is MediaPipe's second stage ("BoxLandmarkSubgraph", mediapipe/modules/objectron/
box_landmark_cpu.pbtxt): a 224 x 224 crop of the object (FIT-scaled, letterboxed, RGB in [0, 1]) gives
`Identity_1` (1, 18): the 9 box keypoints (centre, then the 8 corners in models/objectron_box.py's
order) as (x, y) pixels of the 224 input, and `Identity` (1, 1): the box presence score, thresholded at
0.1 (the CPU graph; the GPU graph uses 0.99). There is no heatmap or offset map in this model (those
belong to the 1-stage models). MediaPipe's first stage, an SSD detector that finds the chair's 2D box,
is not used: the caller gives the crop, by default the whole image (our renders are object-centred,
square). The presence score is no chair detector: blank grey or white images score above 0.9. The
keypoints are lifted to a 3D box with EPnP for a pinhole camera of the given vertical field of view,
as MediaPipe's Lift2DFrameAnnotationTo3D does.

Ambiguity: the box's front (+z) is whatever the Objectron annotators called the chair's front, which the
network must infer from appearance; seen from behind, a chair's box is often answered front-facing (a
180 deg yaw error). `ObjectronResult.front_choices` gives the camera under every choice of front face so
an evaluation can also report the best of them; the headline is always the plain answer.
"""

from __future__ import annotations

import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from models import npm
from models.objectron_box import box_camera, fit_box, focal_ndc, front_choices, lift_box
from render.cameras import camera_to_angles

NPM_PACKAGE, NPM_VERSION = "@mediapipe/objectron", "0.4.1675468480"
MODEL_FILE = "object_detection_3d_chair.tflite"
MODEL_SHA256 = "190e4ea49ba891ed242ddc73703e03d70164c27f3da07492d7010379e24f2a6b"
INPUT_SIZE_PX = 224
PRESENCE_THRESHOLD = 0.1  # box_landmark_cpu.pbtxt's ThresholdingCalculator
RENDER_YFOV_DEG = 35.0  # render.renderer.Renderer's default vertical field of view


class ObjectronError(ValueError):
    """The Objectron model cannot be fetched or loaded, or an input is unusable."""


def fetch_objectron_model(dest_dir: Path) -> Path:
    """dest_dir/object_detection_3d_chair.tflite, fetched once from the npm package (needs npm and the
    npm registry) and checked against MODEL_SHA256. Idempotent; the file appears by an atomic rename."""
    dest = Path(dest_dir) / MODEL_FILE
    if npm.has_sha256(dest, MODEL_SHA256):
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        try:
            tarball = npm.npm_pack(NPM_PACKAGE, NPM_VERSION, Path(tmp))
        except npm.NpmError as error:
            raise ObjectronError(str(error)) from error
        with tarfile.open(tarball) as archive:
            try:
                data = archive.extractfile(f"package/{MODEL_FILE}").read()
            except (KeyError, AttributeError) as error:
                raise ObjectronError(f"{NPM_PACKAGE}@{NPM_VERSION} has no {MODEL_FILE}") from error
    if not npm.sha256_matches(data, MODEL_SHA256):
        raise ObjectronError(f"{MODEL_FILE} from {NPM_PACKAGE}@{NPM_VERSION} has an unexpected sha256")
    return npm.write_atomically(dest, data)


def load_interpreter(model_path: Path, num_threads: int = 1):
    """The LiteRT interpreter (ai-edge-litert; tf.lite.Interpreter is deprecated), tensors allocated."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as error:
        raise ObjectronError("the ai-edge-litert package is not installed (see requirements.txt)") from error
    if not Path(model_path).is_file():
        raise ObjectronError(f"no Objectron model at {model_path}: run fetch_objectron_model first")
    interpreter = Interpreter(model_path=str(model_path), num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


@dataclass(frozen=True)
class ObjectronResult:
    """One detected box. keypoints_px: (9, 2) image pixels (x right, y down), centre then corners 1-8;
    rotation: (3, 3) box -> OpenGL camera frame; box_size: (3,) along box x, y, z, up to one scale;
    camera: (3,) unit vector from the box centre to the camera in the box frame (= our canonical frame);
    polar_deg / azimuth_deg: its angles (render/cameras.py); presence: the model's score in [0, 1];
    mirrored: the EPnP box was a reflection, rotation is the nearest proper one (less trustworthy)."""

    presence: float
    keypoints_px: np.ndarray
    rotation: np.ndarray
    box_size: np.ndarray
    camera: np.ndarray
    polar_deg: float
    azimuth_deg: float
    mirrored: bool

    def front_choices(self) -> np.ndarray:
        """(4, 3): the camera if the box's front were the face at 0, 90, 180, 270 deg (row 0 = camera)."""
        return front_choices(self.camera)


class ObjectronPose:
    """The chair model and its decoding; `estimate` one RGB image at a time (not thread-safe)."""

    def __init__(self, model_path: Path, yfov_deg: float = RENDER_YFOV_DEG,
                 presence_threshold: float = PRESENCE_THRESHOLD, num_threads: int = 1):
        """yfov_deg: vertical field of view of the camera that took the images (ours: 35 deg)."""
        self.yfov_deg = yfov_deg
        self.presence_threshold = presence_threshold
        self._interpreter = load_interpreter(model_path, num_threads)
        (self._input,) = self._interpreter.get_input_details()
        outputs = {d["name"]: d for d in self._interpreter.get_output_details()}
        if set(outputs) != {"Identity", "Identity_1"}:
            raise ObjectronError(f"unexpected Objectron outputs {sorted(outputs)}")
        self._landmarks, self._presence = outputs["Identity_1"], outputs["Identity"]
        _check_shape(self._input, (1, INPUT_SIZE_PX, INPUT_SIZE_PX, 3))
        _check_shape(self._landmarks, (1, 18))
        _check_shape(self._presence, (1, 1))

    def estimate(self, image_rgb: np.ndarray, crop: tuple[float, float, float, float] | None = None,
                 ) -> ObjectronResult | None:
        """The box pose in an (H, W, 3) uint8 RGB image, or None when the presence score is under the
        threshold. crop: (x0, y0, x1, y1) pixels of the object's 2D box (a detector's), default whole."""
        image = _checked_image(image_rgb)
        keypoints, presence = self.keypoints(image, crop)
        return self.pose(keypoints, presence, image.shape[:2])

    def pose(self, keypoints_px: np.ndarray, presence: float, image_hw: tuple[int, int],
             ) -> ObjectronResult | None:
        """Decoding of `keypoints`' answer ((9, 2) image pixels) for an image of (height, width) pixels:
        None under the presence threshold, else the EPnP-lifted box and its camera."""
        if presence < self.presence_threshold:
            return None
        height, width = image_hw
        points = lift_box(keypoints_px / [width, height], focal_ndc(self.yfov_deg, width, height))
        rotation, translation, size, mirrored = fit_box(points)
        camera = box_camera(rotation, translation)
        polar, azimuth = camera_to_angles(camera)
        return ObjectronResult(presence, keypoints_px, rotation, size, camera, float(polar), float(azimuth),
                               mirrored)

    def keypoints(self, image_rgb: np.ndarray, crop: tuple[float, float, float, float] | None = None,
                  ) -> tuple[np.ndarray, float]:
        """Raw model answer mapped back to the image: ((9, 2) pixels, presence score)."""
        image = _checked_image(image_rgb)
        crop_box = _crop_box(image, crop)
        tensor, transform = model_input(image, crop_box)
        self._interpreter.set_tensor(self._input["index"], tensor[None])
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._landmarks["index"]).reshape(9, 2)
        presence = float(self._interpreter.get_tensor(self._presence["index"]).reshape(-1)[0])
        return input_to_image(raw, transform), presence


def model_input(image: np.ndarray, crop_box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The crop FIT into 224 x 224 (aspect kept, centred on black, as ImageTransformationCalculator's
    FIT), edges replicated where the crop leaves the image; values in [0, 1] (zero_center: false).

    Returns ((224, 224, 3) float32, transform (4,) = (scale_x, scale_y, offset_x, offset_y)) with
    input_px = image_px * scale + offset."""
    x0, y0, x1, y1 = crop_box
    height, width = image.shape[:2]
    pad = max(0, -x0, -y0, x1 - width, y1 - height)
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge") if pad else image
    crop = padded[y0 + pad:y1 + pad, x0 + pad:x1 + pad]
    fit = INPUT_SIZE_PX / max(x1 - x0, y1 - y0)
    new_w, new_h = max(1, round((x1 - x0) * fit)), max(1, round((y1 - y0) * fit))
    canvas = np.zeros((INPUT_SIZE_PX, INPUT_SIZE_PX, 3), np.uint8)
    left, top = (INPUT_SIZE_PX - new_w) // 2, (INPUT_SIZE_PX - new_h) // 2
    canvas[top:top + new_h, left:left + new_w] = np.asarray(
        Image.fromarray(crop).resize((new_w, new_h), Image.BILINEAR))
    scale_x, scale_y = new_w / (x1 - x0), new_h / (y1 - y0)
    transform = np.array([scale_x, scale_y, left - x0 * scale_x, top - y0 * scale_y])
    return canvas.astype(np.float32) / 255.0, transform


def input_to_image(points_px: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Model-input pixels (n, 2) back to image pixels, undoing model_input's transform. (n, 2) float64"""
    scale, offset = np.asarray(transform[:2]), np.asarray(transform[2:])
    return (np.asarray(points_px, dtype=np.float64) - offset) / scale


def _check_shape(tensor: dict, shape: tuple[int, ...]) -> None:
    if tuple(tensor["shape"]) != shape or tensor["dtype"] != np.float32:
        raise ObjectronError(f"Objectron tensor {tensor['name']} is {tuple(tensor['shape'])} "
                             f"{tensor['dtype']}, expected {shape} float32")


def _crop_box(image: np.ndarray, crop: tuple[float, float, float, float] | None) -> tuple[int, int, int, int]:
    height, width = image.shape[:2]
    if crop is None:
        return 0, 0, width, height
    x0, y0, x1, y1 = np.rint(np.asarray(crop, dtype=np.float64)).astype(int).tolist()
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ObjectronError(f"crop {crop} is empty")
    return x0, y0, x1, y1


def _checked_image(image_rgb: np.ndarray) -> np.ndarray:
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ObjectronError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    return image
