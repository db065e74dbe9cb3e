"""Objectron baseline: the npm model file, its tensors, the crop/letterbox decoding, the EPnP box lift and
the conversion to our polar/azimuth, and real runs on rendered chairs."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

from evaluation.objectron_baseline import objectron_errors
from models import npm, objectron
from models.objectron import (
    MODEL_SHA256,
    ObjectronError,
    ObjectronPose,
    fetch_objectron_model,
    input_to_image,
    load_interpreter,
    model_input,
)
from models.objectron_box import (
    EPNP_ALPHA,
    UNIT_BOX,
    box_camera,
    fit_box,
    focal_ndc,
    front_choices,
    lift_box,
    yaw_matrix,
)
from render.cameras import angles_to_camera, angular_error_deg, camera_to_angles, look_at_pose
from tests.conftest import render_rgb

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed")
CHAIR_SIZE = np.array([0.5, 0.9, 0.45])  # box x, y, z extents of a made-up chair


@pytest.fixture(scope="session")
def objectron_model(tmp_path_factory):
    """The chair .tflite, fetched once per session from the npm package."""
    if shutil.which("npm") is None:
        pytest.skip("npm not installed")
    return fetch_objectron_model(tmp_path_factory.mktemp("objectron"))


@pytest.fixture(scope="session")
def estimator(objectron_model) -> ObjectronPose:
    return ObjectronPose(objectron_model)


def project_box(camera: np.ndarray, yfov_deg: float = 35.0, distance: float = 1.75) -> np.ndarray:
    """Normalised image keypoints (9, 2) of a CHAIR_SIZE box in the canonical frame, seen from `camera`
    by the renderer's look-at camera (OpenGL, roll 0)."""
    world = np.hstack([UNIT_BOX * CHAIR_SIZE, np.ones((9, 1))])
    in_camera = (np.linalg.inv(look_at_pose(camera, distance)) @ world.T).T[:, :3]
    f = 1.0 / np.tan(np.radians(yfov_deg) / 2)
    ndc = f * in_camera[:, :2] / -in_camera[:, 2:3]
    return np.column_stack([(ndc[:, 0] + 1) / 2, (1 - ndc[:, 1]) / 2])


def lifted_camera(keypoints: np.ndarray, yfov_deg: float = 35.0) -> np.ndarray:
    rotation, translation, _, mirrored = fit_box(lift_box(keypoints, focal_ndc(yfov_deg, 224, 224)))
    assert not mirrored
    return box_camera(rotation, translation)


@pytest.mark.parametrize(("polar", "azimuth"), [(90, 0), (90, 90), (60, 200), (30, 315), (0.5, 0)])
def test_lift_recovers_the_camera_of_a_projected_box(polar, azimuth):
    truth = angles_to_camera(polar, azimuth)
    estimate = lifted_camera(project_box(truth))
    assert angular_error_deg(truth, estimate) < 0.1


def test_vertex_order_is_mediapipes():
    """box.cc's vertex table and epnp.cc's control-point weights, verbatim."""
    np.testing.assert_array_equal(UNIT_BOX[1:] * 2, [[-1, -1, -1], [-1, -1, 1], [-1, 1, -1], [-1, 1, 1],
                                                     [1, -1, -1], [1, -1, 1], [1, 1, -1], [1, 1, 1]])
    np.testing.assert_array_equal(EPNP_ALPHA, [[4, -1, -1, -1], [2, -1, -1, 1], [2, -1, 1, -1],
                                               [0, -1, 1, 1], [2, 1, -1, -1], [0, 1, -1, 1],
                                               [0, 1, 1, -1], [-2, 1, 1, 1]])


def test_named_views_give_our_angles():
    front_level = camera_to_angles(lifted_camera(project_box(np.array([0.0, 0.0, 1.0]))))
    right_side = camera_to_angles(lifted_camera(project_box(np.array([1.0, 0.0, 0.0]))))
    above = camera_to_angles(lifted_camera(project_box(np.array([0.0, 1.0, 0.0]))))
    # Azimuth compared around the circle: front may come back as 359.99999 deg on some CPUs' arithmetic.
    for (polar, azimuth), expected in ((front_level, 0.0), (right_side, 90.0)):
        assert abs(polar - 90.0) < 0.05 and abs((azimuth - expected + 180.0) % 360.0 - 180.0) < 0.05, azimuth
    assert above[0] < 0.05


def test_box_camera_of_constructed_rotations():
    """Box 2 units in front of the camera; rotation maps box axes to camera axes (x right, y up, z back)."""
    ahead = np.array([0.0, 0.0, -2.0])
    facing = box_camera(np.eye(3), ahead)  # box front (+z) points at the camera
    turned = box_camera(yaw_matrix(-90), ahead)  # box's +x face points at the camera
    tipped = box_camera(np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]), ahead)  # box up points at camera
    np.testing.assert_allclose(camera_to_angles(facing), (90.0, 0.0), atol=1e-9)
    np.testing.assert_allclose(camera_to_angles(turned), (90.0, 90.0), atol=1e-9)
    assert camera_to_angles(tipped)[0] < 1e-9


def test_front_choices_turn_about_up():
    choices = front_choices(np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(choices, [[0, 0, 1], [1, 0, 0], [0, 0, -1], [-1, 0, 0]], atol=1e-12)


def test_a_reflected_box_is_flagged_and_made_proper():
    points = UNIT_BOX * CHAIR_SIZE + [0.0, 0.0, -2.0]
    rotation, _, size, mirrored = fit_box(points * [-1.0, 1.0, 1.0])
    assert mirrored and np.isclose(np.linalg.det(rotation), 1.0)
    np.testing.assert_allclose(size, CHAIR_SIZE)
    assert not fit_box(points)[3]


def test_model_input_letterboxes_a_wide_crop_and_maps_points_back():
    image = np.zeros((200, 300, 3), np.uint8)
    image[20:120, 50:250] = 200  # the crop region, 200 x 100 px
    tensor, transform = model_input(image, (50, 20, 250, 120))
    assert tensor.shape == (224, 224, 3) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[56:168, :, :], 200 / 255, atol=1e-6)  # FIT: 224 x 112 in the middle
    assert tensor[:56].max() == 0 and tensor[168:].max() == 0  # black letterbox bars
    np.testing.assert_allclose(input_to_image(np.array([[0.0, 56.0], [224.0, 168.0], [112.0, 112.0]]),
                                              transform), [[50, 20], [250, 120], [150, 70]])


def test_a_crop_beyond_the_image_replicates_its_edges():
    image = np.zeros((100, 100, 3), np.uint8)
    image[:, 90:] = 255
    tensor, transform = model_input(image, (50, 0, 150, 100))
    assert tensor[:, -1].min() == 1.0  # right half of the crop lies outside: replicated white
    np.testing.assert_allclose(input_to_image(np.array([[224.0, 224.0]]), transform), [[150, 100]])


def test_missing_npm_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(npm.shutil, "which", lambda name: None)
    with pytest.raises(ObjectronError, match="npm"):
        fetch_objectron_model(tmp_path)
    assert not list(tmp_path.iterdir())


@needs_npm
def test_fetch_checks_and_is_idempotent(objectron_model, monkeypatch):
    assert hashlib.sha256(objectron_model.read_bytes()).hexdigest() == MODEL_SHA256
    monkeypatch.setattr(npm.shutil, "which", lambda name: None)  # a second call must not need npm
    assert fetch_objectron_model(objectron_model.parent) == objectron_model
    assert [p.name for p in objectron_model.parent.iterdir()] == [objectron.MODEL_FILE]


@needs_npm
def test_model_tensors_are_what_the_decoder_expects(objectron_model):
    interpreter = load_interpreter(objectron_model)
    (image,) = interpreter.get_input_details()
    outputs = {d["name"]: (tuple(d["shape"]), d["dtype"]) for d in interpreter.get_output_details()}
    assert tuple(image["shape"]) == (1, 224, 224, 3) and image["dtype"] == np.float32
    assert outputs == {"Identity_1": ((1, 18), np.float32), "Identity": ((1, 1), np.float32)}


@needs_npm
def test_bad_images_are_errors(estimator):
    with pytest.raises(ObjectronError):
        estimator.estimate(np.zeros((64, 64), np.uint8))
    with pytest.raises(ObjectronError):
        estimator.estimate(np.zeros((64, 64, 3), np.float32))


@pytest.mark.slow
@needs_npm
def test_rendered_box_chair_from_front_right(estimator, tiny_cad_dir):
    """A real 224 px render of the box chair: the answer is finite and the front-right view is found
    within 25 deg (the plain answer: the front face is not swapped; both were ~6 deg when written)."""
    cameras = angles_to_camera(np.array([70.0, 80.0]), np.array([30.0, 330.0]))
    images = render_rgb(tiny_cad_dir / "box_chair.glb", cameras, size_px=224)
    results = [estimator.estimate(image) for image in images]
    for result, truth in zip(results, cameras):
        assert result is not None and np.all(np.isfinite(result.keypoints_px))
        assert 0 <= result.polar_deg <= 180 and 0 <= result.azimuth_deg < 360
        assert angular_error_deg(truth, result.camera) < 25
    summary = objectron_errors(images, cameras, estimator, progress=False)
    assert summary["queries"] == 2 and summary["detected"] == 2
    assert summary["pose"]["mean_deg"] == pytest.approx(
        np.mean([angular_error_deg(t, r.camera) for t, r in zip(cameras, results)]))
    assert summary["pose_any_side"]["mean_deg"] <= summary["pose"]["mean_deg"]


@needs_npm
def test_objectron_errors_counts_misses_apart(objectron_model):
    """A presence threshold above 1 makes every image a miss: no errors, detection rate 0."""
    strict = ObjectronPose(objectron_model, presence_threshold=1.01)
    images = np.full((2, 64, 64, 3), 128, np.uint8)
    summary = objectron_errors(images, np.eye(3)[:2], strict, progress=False)
    assert summary["detection_rate"] == 0 and summary["pose"]["n"] == 0
    assert all(row["error_deg"] is None and 0 <= row["presence"] <= 1 for row in summary["per_query"])
    with pytest.raises(ValueError):
        objectron_errors(images, np.eye(3), strict, progress=False)
