"""Symmetry about the up axis from geometry, the symmetric angular error, and lazy detection for old indexes."""

import numpy as np
import pytest

from index.store import MetadataStore, ModelRecord
from index.symmetry import (
    NO_SYMMETRY,
    Symmetry,
    detect_symmetry,
    equivalent_cameras,
    fill_symmetries,
    fold_cameras,
    record_symmetry,
    rotation_about_up,
    symmetric_angular_error_deg,
)
from render.cameras import angles_to_camera, camera_to_angles
from tests.shapes import make_asymmetric_chair, make_box_chair, make_round_stool, make_square_box


def test_a_square_box_is_c4_and_mirror_symmetric():
    symmetry = detect_symmetry(make_square_box())
    assert (symmetry.label, symmetry.mirror_left_right, symmetry.mirror_front_back) == ("C4", True, True)
    assert symmetry.azimuth_ambiguous


def test_a_round_stool_is_symmetric_for_every_angle():
    symmetry = detect_symmetry(make_round_stool())
    assert symmetry.rotation_order == 0 and symmetry.label == "continuous"
    assert symmetry.mirror_left_right and symmetry.mirror_front_back


def test_an_asymmetric_chair_has_no_symmetry():
    symmetry = detect_symmetry(make_asymmetric_chair())
    assert symmetry.label == "none" and not symmetry.azimuth_ambiguous
    assert not symmetry.mirror_left_right and not symmetry.mirror_front_back


def test_a_plain_chair_is_only_left_right_mirror_symmetric():
    symmetry = detect_symmetry(make_box_chair())
    assert (symmetry.label, symmetry.mirror_left_right, symmetry.mirror_front_back) == ("none", True, False)


def test_detection_does_not_depend_on_position_or_scale():
    mesh = make_square_box()
    mesh.apply_scale(7.0)
    mesh.apply_translation((3.0, -2.0, 5.0))
    assert detect_symmetry(mesh).label == "C4"


def test_rotation_about_up_adds_to_the_azimuth():
    camera = angles_to_camera(60.0, 30.0)
    polar, azimuth = camera_to_angles(rotation_about_up(100.0) @ camera)
    assert polar == pytest.approx(60.0) and azimuth == pytest.approx(130.0)


@pytest.mark.parametrize("symmetry, true, estimate, expected", [
    (NO_SYMMETRY, (60, 10), (60, 190), 120.0),  # plain: the angle between the two cameras
    (Symmetry(rotation_order=2), (60, 10), (60, 190), 0.0),  # C2: front and back look the same
    (Symmetry(rotation_order=2), (90, 0), (90, 100), 80.0),  # nearest equivalent: 280 deg -> 80 deg
    (Symmetry(rotation_order=4), (90, 0), (90, 100), 10.0),
    (Symmetry(rotation_order=0), (30, 0), (70, 123), 40.0),  # continuous: only the polar angle counts
    (Symmetry(rotation_order=1, mirror_front_back=True), (90, 0), (90, 180), 180.0),  # mirrors don't count
])
def test_symmetric_error_is_the_minimum_over_equivalent_cameras(symmetry, true, estimate, expected):
    error = symmetric_angular_error_deg(angles_to_camera(*true), angles_to_camera(*estimate), symmetry)
    assert error == pytest.approx(expected, abs=1e-6)


def test_equivalent_cameras_and_folding():
    camera = angles_to_camera(50.0, 200.0)
    cams = equivalent_cameras(camera, Symmetry(rotation_order=4))
    assert cams.shape == (4, 3)
    np.testing.assert_allclose(np.sort(camera_to_angles(cams)[1]), [20.0, 110.0, 200.0, 290.0])
    anchor = angles_to_camera(50.0, 10.0)
    folded = fold_cameras(camera[None], anchor, Symmetry(rotation_order=2))
    np.testing.assert_allclose(camera_to_angles(folded)[1], [20.0])
    stool = fold_cameras(angles_to_camera(np.array([30.0, 80.0]), np.array([90.0, 250.0])), anchor,
                         Symmetry(rotation_order=0))
    np.testing.assert_allclose(camera_to_angles(stool)[0], [30.0, 80.0])
    np.testing.assert_allclose(camera_to_angles(stool)[1], [10.0, 10.0])


def test_symmetry_round_trips_through_a_record():
    symmetry = Symmetry(4, True, True, {"C4": 0.0})
    record = ModelRecord("a", "A", "/x.obj", "h", extra={"symmetry": symmetry.to_dict()})
    assert record_symmetry(record) == symmetry
    assert record_symmetry(ModelRecord("b", "B", "/y.obj", "h")) is None


def test_an_index_made_before_detection_gets_its_symmetries_lazily(tmp_path):
    path = tmp_path / "box.glb"
    path.write_bytes(make_square_box().export(file_type="glb"))
    store = MetadataStore(tmp_path / "metadata.sqlite")
    store.put_model(ModelRecord("old#box", "Box", str(path), "h", extra={"glb_path": "x"}), np.zeros((0, 3)),
                    np.zeros((0, 4), np.float32), [])
    symmetries = {"old#box": None}
    assert fill_symmetries(store, symmetries) == 1
    assert symmetries["old#box"].label == "C4"
    stored = store.get_model("old#box")
    assert record_symmetry(stored).label == "C4" and stored.extra["glb_path"] == "x"  # merged, not replaced
    assert fill_symmetries(store, symmetries) == 0  # nothing left to do
