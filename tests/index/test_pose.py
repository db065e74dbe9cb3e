"""Pose maths: angle conventions, angular error, pose estimate from matching views."""

import numpy as np
import pytest

from index.pose import estimate_pose, find_modes, side_label, view_spacing_deg
from index.symmetry import Symmetry
from render.cameras import angles_to_camera, angular_error_deg, camera_to_angles, sphere_cameras


@pytest.mark.parametrize(
    "polar, azimuth, expected",
    [(90, 0, [0, 0, 1]), (90, 90, [1, 0, 0]), (0, 123, [0, 1, 0]), (90, 180, [0, 0, -1]),
     (90, 270, [-1, 0, 0]), (180, 0, [0, -1, 0])],
)
def test_angles_to_camera_follow_the_convention(polar, azimuth, expected):
    assert np.allclose(angles_to_camera(polar, azimuth), expected, atol=1e-12)


def test_camera_to_angles_inverts_and_wraps_azimuth():
    rng = np.random.default_rng(0)
    polar, azimuth = rng.uniform(1, 179, 100), rng.uniform(0, 360, 100)
    back_polar, back_azimuth = camera_to_angles(3.0 * angles_to_camera(polar, azimuth))
    assert np.allclose(back_polar, polar) and np.allclose(back_azimuth, azimuth)
    assert camera_to_angles(np.array([-1e-9, 0.0, 1.0]))[1] < 360.0


def test_angular_error_known_values():
    assert angular_error_deg([0, 0, 1], [0, 0, 2]) == pytest.approx(0.0, abs=1e-6)
    assert angular_error_deg([0, 0, 1], [1, 0, 0]) == pytest.approx(90.0)
    assert angular_error_deg([0, 0, 1], [0, 0, -1]) == pytest.approx(180.0)
    assert angular_error_deg([1, 1, 0], [1, 0, 0]) == pytest.approx(45.0)
    with pytest.raises(ValueError):
        angular_error_deg([0, 0, 0], [1, 0, 0])


def test_sphere_cameras_respect_polar_range_and_count():
    cams = sphere_cameras(3, "icosphere", (20, 90))
    polar, _ = camera_to_angles(cams)
    assert polar.min() >= 20 - 1e-6 and polar.max() <= 90 + 1e-6
    assert 250 < len(cams) < 350  # a 642-vertex icosphere, zone between 20 and 90 degrees
    mc = sphere_cameras(500, "montecarlo", (30, 60), seed=1)
    assert len(mc) == 500 and np.allclose(np.linalg.norm(mc, axis=1), 1)
    assert camera_to_angles(mc)[0].min() >= 30 - 1e-6 and camera_to_angles(mc)[0].max() <= 60 + 1e-6
    assert np.array_equal(mc, sphere_cameras(500, "montecarlo", (30, 60), seed=1))
    with pytest.raises(ValueError):
        sphere_cameras(3, "spiral")
    with pytest.raises(ValueError):
        sphere_cameras(3, "icosphere", (90, 20))


def test_estimate_pose_interpolates_between_neighbouring_views():
    true = angles_to_camera(60, 40)
    views = angles_to_camera(np.array([60, 60, 50, 70]), np.array([30, 50, 40, 40]))
    sims = 1 - angular_error_deg(true, views) / 1000  # closer views are more similar
    pose = estimate_pose(views, sims, view_spacing_deg=10)
    best_single = angular_error_deg(true, views[np.argmax(sims)])
    assert angular_error_deg(true, pose.camera) < best_single
    assert pose.expected_error_deg >= 5.0


def test_estimate_pose_ignores_the_symmetric_opposite_view():
    front, back = angles_to_camera(80, 10), angles_to_camera(80, 190)
    pose = estimate_pose(np.stack([front, back]), np.array([0.9, 0.89]), view_spacing_deg=8)
    assert angular_error_deg(front, pose.camera) < 1e-6
    assert pose.expected_error_deg == pytest.approx(4.0)


def test_view_spacing_of_an_icosphere_level():
    spacing = view_spacing_deg(sphere_cameras(2, "icosphere", (0, 180)))
    assert 13 < spacing < 19  # 162 vertices: neighbours about 15-17 degrees apart
    assert view_spacing_deg(np.array([[0, 0, 1.0]])) == 0.0


def _front_back_views():
    """Views of a front/back look-alike: a cluster around azimuth 10 and a weaker one around 190."""
    azimuths = np.array([0.0, 10.0, 20.0, 180.0, 190.0, 200.0, 100.0])
    views = angles_to_camera(np.full(7, 70.0), azimuths)
    sims = np.array([0.88, 0.90, 0.88, 0.87, 0.885, 0.87, 0.70])
    return views, sims


def test_the_distribution_finds_the_front_and_the_back_mode():
    views, sims = _front_back_views()
    pose = estimate_pose(views, sims, view_spacing_deg=10)
    assert angular_error_deg(angles_to_camera(70, 10), pose.camera) < 1.0
    (behind,) = pose.alternatives  # the lone side view (azimuth 100) is far below the threshold
    assert abs(behind.azimuth_deg - 190.0) < 1.0 and side_label(behind.azimuth_deg) == "back"
    assert 0.25 < behind.probability < pose.probability
    assert pose.probability + behind.probability == pytest.approx(1.0, abs=0.01)


def test_a_c2_symmetric_model_folds_front_and_back_into_one_mode():
    views, sims = _front_back_views()
    pose = estimate_pose(views, sims, view_spacing_deg=10, symmetry=Symmetry(rotation_order=2))
    assert pose.alternatives == () and pose.probability > 0.99
    assert angular_error_deg(angles_to_camera(70, 10), pose.camera) < 3.0


def test_a_round_stool_has_one_mode_whatever_the_azimuths():
    views = angles_to_camera(np.array([60.0, 62.0, 58.0, 61.0]), np.array([0.0, 90.0, 200.0, 300.0]))
    pose = estimate_pose(views, np.array([0.9, 0.9, 0.89, 0.9]), 10, symmetry=Symmetry(rotation_order=0))
    assert pose.alternatives == () and abs(pose.polar_deg - 60.3) < 1.0 and pose.azimuth_deg == pytest.approx(0)


def test_modes_are_sorted_and_probabilities_sum_to_one():
    rng = np.random.default_rng(0)
    views = sphere_cameras(2, "icosphere", (20, 90))
    modes = find_modes(views, rng.uniform(0.01, 1.0, len(views)), cluster_deg=30, max_modes=100)
    probabilities = [m.probability for m in modes]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0)


@pytest.mark.parametrize("azimuth, side", [(0, "front"), (44, "front"), (46, "right"), (180, "back"),
                                           (270, "left"), (350, "front")])
def test_side_labels(azimuth, side):
    assert side_label(azimuth) == side
