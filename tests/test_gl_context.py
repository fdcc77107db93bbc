"""One GL context strategy: a window and offscreen cameras in one process, whatever ``MUJOCO_GL`` is.

The window tests run in a child process under Xvfb (this module is the child's program), so that a GL crash or an
X error fails the test instead of killing pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from so101.sim import gl_context

REPO_ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 200


class FakeOwner:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def acquire_gl(self) -> None:
        self.log.append(f"acquire {self.name}")

    def release_gl(self) -> None:
        self.log.append(f"release {self.name}")


def test_switching_owners_releases_the_previous_one_first() -> None:
    log: list[str] = []
    window, cameras = FakeOwner("window", log), FakeOwner("cameras", log)
    gl_context.make_current(window)
    gl_context.make_current(window)
    gl_context.make_current(cameras)
    gl_context.release(window)  # not current: nothing to release
    gl_context.release_current()
    gl_context.release_current()
    assert log == ["acquire window", "acquire window", "release window", "acquire cameras", "release cameras"]


FORKED_AFTER_RENDERING = """
import os, sys
import so101.sim
from so101.errors import DeviceError
from so101.sim.rendering import CameraRenderer
from so101.sim.scene import CameraConfig
from so101.sim.simulator import So101Sim

sim = So101Sim()
sim.reset(0)
renderer = CameraRenderer(sim.model, [CameraConfig("overhead_cam", 64, 48)], "fast")
image = renderer.render(sim.data)["overhead_cam"]
pid = os.fork()
if pid == 0:
    # os._exit: a forked copy of a process with a GL driver must not run the driver's exit handlers either.
    try:
        CameraRenderer(sim.model, [CameraConfig("wrist_cam", 64, 48)], "fast").render(sim.data)
    except DeviceError as error:
        print("child:", error, flush=True)
        renderer.close()  # the parent's context: left alone in the child
        os._exit(0)
    os._exit(1)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
assert (renderer.render(sim.data)["overhead_cam"] == image).all(), "the parent's renderer was disturbed"
renderer.close()
print("parent renders on")
"""


@pytest.mark.parametrize("backend", ["egl", "osmesa"])
def test_a_process_forked_after_rendering_is_refused_a_context_instead_of_hanging(backend: str) -> None:
    environment = {key: value for key, value in os.environ.items() if key != "PYOPENGL_PLATFORM"}
    environment.update(MUJOCO_GL=backend, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", FORKED_AFTER_RENDERING],
        capture_output=True, text=True, env=environment, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "it was forked from process" in result.stdout and "'spawn'" in result.stdout, result.stdout
    assert "parent renders on" in result.stdout


# ----------------------------------------------------------------------------------- window + cameras under Xvfb

needs_xvfb = pytest.mark.skipif(
    shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (apt-get install xvfb xauth)"
)


@needs_xvfb
@pytest.mark.parametrize(
    ("backend", "opened_first", "teardown"),
    [
        ("egl", "cameras", "cameras_first"),  # the order of keyboard recording: renderer, then the window
        ("egl", "window", "window_first"),
        ("egl", "cameras", "at_exit"),
        ("osmesa", "cameras", "window_first"),
        ("glfw", "window", "cameras_first"),
    ],
)
def test_window_frames_and_camera_renders_alternate_in_one_process(
    backend: str, opened_first: str, teardown: str
) -> None:
    environment = {key: value for key, value in os.environ.items() if key != "PYOPENGL_PLATFORM"}
    environment.update(MUJOCO_GL=backend, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 640x480x24", sys.executable, "-X", "faulthandler", __file__,
         opened_first, teardown],
        capture_output=True, text=True, env=environment, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert f"{ROUNDS} rounds" in result.stdout and "torn down" in result.stdout, result.stdout


def _color_pixels(image, color: str) -> int:
    r, g, b = (image[..., i].astype(int) for i in range(3))
    mask = (r > 180) & (g > 140) & (b < 80) if color == "yellow" else (r > 120) & (g < 60) & (b < 60)
    return int(mask.sum())


def _child(opened_first: str, teardown: str) -> None:
    """Open a Viewer and a CameraRenderer, alternate them ``ROUNDS`` times, tear them down as ``teardown`` says."""
    import numpy as np
    from PIL import ImageGrab

    import so101.sim  # noqa: F401
    from so101.sim.rendering import CameraRenderer
    from so101.sim.scene import CameraConfig
    from so101.sim.simulator import So101Sim
    from so101.sim.viewer import Viewer

    sim_ = So101Sim()
    sim_.reset(0)
    cameras = [CameraConfig("overhead_cam", 96, 72), CameraConfig("wrist_cam", 64, 48)]

    def open_both() -> tuple[Viewer, CameraRenderer]:
        if opened_first == "window":
            viewer = Viewer(sim_, width=320, height=240, profile="fast")
            return viewer, CameraRenderer(sim_.model, cameras, "fast")
        renderer = CameraRenderer(sim_.model, cameras, "fast")
        return Viewer(sim_, width=320, height=240, profile="fast"), renderer

    viewer, renderer = open_both()
    for _ in range(ROUNDS):
        sim_.step(sim_.commanded_targets() + np.array([0.2, 0.0, 0.0, 0.0, 0.0, 0.0]))
        images = renderer.render(sim_.data)
        viewer.draw()
    assert _color_pixels(images["overhead_cam"], "red") > 5, "the camera image does not show the brick"
    assert _color_pixels(viewer.read_pixels(), "yellow") > 100, "the window does not show the arm"
    screen = np.asarray(ImageGrab.grab(xdisplay=os.environ["DISPLAY"]).convert("RGB"))
    assert _color_pixels(screen, "yellow") > 100, "the display does not show the window"
    print(f"{ROUNDS} rounds")
    if teardown == "at_exit":
        print("torn down at exit")
        return
    closes = [renderer.close, viewer.shutdown]
    for close in closes if teardown == "cameras_first" else closes[::-1]:
        close()
    for close in closes:
        close()
    viewer.draw()
    assert viewer.should_close
    with pytest.raises(RuntimeError, match="closed"):
        renderer.render(sim_.data)
    # Everything works again after a teardown: GLFW stays usable, and no stale context is left current.
    viewer, renderer = open_both()
    renderer.render(sim_.data)
    viewer.draw()
    renderer.close()
    viewer.shutdown()
    print("torn down")


if __name__ == "__main__":
    _child(*sys.argv[1:3])
