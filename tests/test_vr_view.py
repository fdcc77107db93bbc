"""The stereo view against Monado: the swapchain images hold the scene, the eyes differ by the parallax of the
runtime's eye separation, the view follows the head, the status panel shows (teleop/vr/view.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mujoco
import numpy as np
import pytest
from monado import monado  # noqa: F401  (fixture)

from so101.kinematics.pose import Pose, quat_conjugate, quat_rotate
from so101.sim.simulator import So101Sim
from so101.teleop.vr.headset import Headset, VRConfig
from so101.teleop.vr.session import xr_pose
from so101.teleop.vr.view import PANEL_DEPTH_M, eye_camera

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def headset(monado: object) -> Iterator[Headset]:  # noqa: F811
    sim = So101Sim()
    sim.reset(0)
    headset = Headset(VRConfig(graphics="egl", mirror=False, render_profile="fast"), sim, capture=True)
    try:
        assert headset.start(10.0), "Monado's session never reached FOCUSED"
        yield headset
    finally:
        headset.close()


def project(headset: Headset, view: object, point: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel (x, y from the top) of a world point in an eye, from the eye's pose and field of view."""
    pose = headset.view.anchor.to_world(xr_pose(view.pose))  # type: ignore[attr-defined]
    local = quat_rotate(quat_conjugate(pose.quat), point - pose.position)
    fov = view.fov  # type: ignore[attr-defined]
    tan_x, tan_y = local[0] / -local[2], local[1] / -local[2]
    x = (tan_x - np.tan(fov.angle_left)) / (np.tan(fov.angle_right) - np.tan(fov.angle_left)) * width
    y = (np.tan(fov.angle_up) - tan_y) / (np.tan(fov.angle_up) - np.tan(fov.angle_down)) * height
    return np.array([x, y])


def brick_pixel(image: np.ndarray) -> np.ndarray:
    """Centroid (x, y) of the red brick's pixels."""
    rgb = image.astype(int)
    ys, xs = np.nonzero((rgb[..., 0] > 120) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60))
    assert len(xs) > 10, "the brick is not in view"
    return np.array([xs.mean(), ys.mean()])


def rendered_frame(headset: Headset) -> list:
    """Draw until a frame is rendered; the eyes' views it was rendered with."""
    before = headset.view.rendered
    while headset.view.rendered == before:
        headset.view.draw_wait()
    views = headset.session.locate_views(headset.session.last_display_time)
    assert views is not None
    return views


def test_eyes_show_the_scene_with_the_eye_separations_parallax(headset: Headset) -> None:
    views = rendered_frame(headset)
    left, right = headset.view.last_eyes
    height, width = left.shape[:2]
    assert (width, height) == headset.session.views[0].recommended
    for eye in (left, right):
        assert eye.std() > 20 and len(np.unique(eye.reshape(-1, 3), axis=0)) > 50  # a scene, not a blank
    separation = np.linalg.norm(xr_pose(views[0].pose).position - xr_pose(views[1].pose).position)
    assert 0.05 < separation < 0.08  # Monado's simulated headset: about 63 mm
    brick = headset.view.sim.data.xpos[headset.view.sim.scene.brick_body]
    expected = project(headset, views[0], brick, width, height) - project(headset, views[1], brick, width, height)
    assert expected[0] > 5  # a near object: the left eye sees it further right
    observed = brick_pixel(left) - brick_pixel(right)
    assert observed[0] == pytest.approx(expected[0], abs=2.0)
    assert abs(observed[1]) < 2.0


def test_the_view_follows_the_head(headset: Headset) -> None:
    brick = headset.view.sim.data.xpos[headset.view.sim.scene.brick_body]
    seen, predicted = [], []
    for _ in range(40):  # Monado's simulated head sways: frames until it has moved the image by 3 pixels
        views = rendered_frame(headset)
        height, width = headset.view.last_eyes[0].shape[:2]
        seen.append(brick_pixel(headset.view.last_eyes[0]))
        predicted.append(project(headset, views[0], brick, width, height))
        if np.linalg.norm(predicted[-1] - predicted[0]) > 3.0:
            break
    seen, predicted = [seen[0], seen[-1]], [predicted[0], predicted[-1]]
    assert np.linalg.norm(predicted[1] - predicted[0]) > 3.0  # the head moved enough to move the image
    # The image moved as the head's pose predicts (the centroid of the brick's visible faces sits a little off
    # its centre, the same in both frames).
    np.testing.assert_allclose(seen[1] - seen[0], predicted[1] - predicted[0], atol=1.5)
    for observed, expected in zip(seen, predicted, strict=True):
        np.testing.assert_allclose(observed, expected, atol=4.0)


def test_the_status_panel_shows_in_both_eyes(headset: Headset) -> None:
    rendered_frame(headset)
    plain = [eye.copy() for eye in headset.view.last_eyes]
    headset.view.status_lines = ["episode 2 of 5   RECORDING   12.0 s left"]
    rendered_frame(headset)
    columns = []
    for before, after in zip(plain, headset.view.last_eyes, strict=True):
        white = (after.min(axis=2) > 200) & (before.min(axis=2) <= 200)
        assert white.sum() > 50  # the text's pixels
        columns.append(np.nonzero(white.any(axis=0))[0].min())
    # Shifted apart by the parallax of a panel 0.8 m away (not drawn at infinity, behind the scene).
    views = headset.session.locate_views(headset.session.last_display_time)
    assert views is not None
    separation = np.linalg.norm(xr_pose(views[0].pose).position - xr_pose(views[1].pose).position)
    width = headset.view.last_eyes[0].shape[1]
    focal = width / (np.tan(views[0].fov.angle_right) - np.tan(views[0].fov.angle_left))
    assert columns[0] - columns[1] == pytest.approx(separation * focal / PANEL_DEPTH_M, abs=2.0)


def test_eye_camera_sets_an_asymmetric_frustum() -> None:
    camera = mujoco.MjvScene().camera[0]
    pose = Pose(np.array([0.1, 0.2, 0.3]), np.array([1.0, 0.0, 0.0, 0.0]))
    eye_camera(pose, (-0.9, 0.7, -0.8, 0.6), 0.01, 10.0, camera)
    left, right, down, up = 0.01 * np.tan([-0.9, 0.7, -0.8, 0.6])
    assert camera.frustum_center == pytest.approx((left + right) / 2) and camera.frustum_center < 0
    assert camera.frustum_width == pytest.approx((right - left) / 2)
    assert (camera.frustum_bottom, camera.frustum_top) == pytest.approx((down, up))
    np.testing.assert_allclose(camera.forward, [0.0, 0.0, -1.0])
    np.testing.assert_allclose(camera.up, [0.0, 1.0, 0.0])


MIRROR_SCRIPT = """
import sys
import numpy as np
from OpenGL import GL
from so101.sim.simulator import So101Sim
from so101.teleop.vr.headset import Headset, VRConfig

sim = So101Sim()
sim.reset(0)
headset = Headset(VRConfig(graphics="glx", mirror=True, render_profile="fast"), sim, capture=True)
assert headset.start(10.0)
gl, shown = headset.session.gl, []
swap = gl.swap

def keep_and_swap():  # what the window shows: its back buffer when swapped (Xvfb's front buffer reads black)
    width, height = gl._glfw.get_framebuffer_size(gl.window)
    GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
    GL.glReadBuffer(GL.GL_BACK)
    pixels = GL.glReadPixels(0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
    shown.append(np.frombuffer(pixels, np.uint8).reshape(height, width, 3)[::-1])
    swap()

gl.swap = keep_and_swap
while not shown:
    headset.view.draw_wait()
assert headset.sample().buttons == frozenset()  # the mirror window's keys (the fallbacks), none held
np.save(sys.argv[1], shown[-1])
np.save(sys.argv[2], headset.view.last_eyes[0])
headset.close()
"""


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (apt-get install xvfb xauth)")
def test_the_glx_binding_mirrors_the_left_eye_in_a_window(monado: Path, tmp_path: Path) -> None:  # noqa: F811
    mirror, eye = tmp_path / "mirror.npy", tmp_path / "eye.npy"
    environment = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x720x24", sys.executable, "-c", MIRROR_SCRIPT, str(mirror), str(eye)],
        capture_output=True, text=True, timeout=120, env={**environment, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    window, left = np.load(mirror), np.load(eye)
    scale = min(window.shape[1] / left.shape[1], window.shape[0] / left.shape[0])
    x0 = (window.shape[1] - int(left.shape[1] * scale)) // 2
    ys = ((np.arange(left.shape[0]) + 0.5) * scale).astype(int)
    xs = x0 + ((np.arange(left.shape[1]) + 0.5) * scale).astype(int)
    shown = window[ys][:, xs]
    assert np.abs(shown.astype(int) - left).mean() < 8  # the left eye, scaled to fit
    assert window[:, : max(x0 - 2, 1)].max() == 0  # black bars beside it


def test_the_headsets_profile_leaves_the_robot_cameras_settings_alone(monado: object) -> None:  # noqa: F811
    from so101.sim.rendering import apply_render_profile

    sim = So101Sim()
    apply_render_profile(sim.model, "fast")  # as the recording's cameras set it
    quality, buffers = sim.model.vis.quality, sim.model.vis.global_
    before = (quality.offsamples, quality.numslices, buffers.offwidth, buffers.offheight)
    headset = Headset(VRConfig(graphics="egl", mirror=False, render_profile="quality"), sim)
    try:
        assert (quality.offsamples, quality.numslices, buffers.offwidth, buffers.offheight) == before
    finally:
        headset.close()
