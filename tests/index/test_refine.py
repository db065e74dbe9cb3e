"""Render-and-compare pose refinement: ring geometry, the kept-alive worker, and a real refinement."""

import numpy as np
import pytest

from index.refine import RenderSession, ring_cameras
from render.cameras import angles_to_camera, angular_error_deg
from render.pool import RenderJob


@pytest.mark.parametrize("polar", [0.0, 45.0, 90.0])
def test_ring_cameras_surround_the_centre_at_the_radius(polar):
    centre = angles_to_camera(polar, 30.0)
    cams = ring_cameras(centre, 8.0, count=6)
    assert cams.shape == (7, 3) and np.allclose(np.linalg.norm(cams, axis=1), 1.0)
    np.testing.assert_allclose(cams[0], centre)
    np.testing.assert_allclose(angular_error_deg(centre, cams[1:]), 8.0)
    assert angular_error_deg(cams[1], cams[4]) == pytest.approx(16.0)  # opposite sides of the ring


def test_render_session_serves_several_jobs(tiny_cad_dir):
    session = RenderSession()
    try:
        cams = angles_to_camera(np.array([60.0, 60.0]), np.array([0.0, 180.0]))
        first = session.render(RenderJob("a", str(tiny_cad_dir / "box_chair.glb"), None, None, cams, 32))
        path = str(tiny_cad_dir / "box_chair.glb")
        second = session.render(RenderJob("b", path, None, None, cams[::-1], 32))
        bad = session.render(RenderJob("c", str(tiny_cad_dir / "missing.glb"), None, None, cams, 32))
    finally:
        session.close()
    assert first.error is None and second.error is None and bad.error is not None
    np.testing.assert_array_equal(first.images[::-1], second.images)
    session.close()  # closing twice is harmless


