"""The desktop viewer and ``so101 view``, in a real GLFW window on a virtual X display (Xvfb)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

SO101 = Path(sys.executable).with_name("so101")
REPO_ROOT = Path(__file__).resolve().parents[1]


def _environment(**extra: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    return {**environment, "PYTHONPATH": str(REPO_ROOT), **extra}


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (apt-get install xvfb xauth)")
@pytest.mark.parametrize("mujoco_gl", [None, "egl"])
def test_view_opens_a_window_showing_the_scene(tmp_path: Path, mujoco_gl: str | None) -> None:
    screenshot = tmp_path / "view.png"
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1024x768x24", str(SO101), "view",
         "--frames", "15", "--window_width", "480", "--window-height", "360", "--screenshot", str(screenshot)],
        capture_output=True, text=True, env=_environment(**({"MUJOCO_GL": mujoco_gl} if mujoco_gl else {})),
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    image = iio.imread(screenshot)
    assert image.shape[:2] == (360, 480)
    r, g, b = (image[..., i].astype(int) for i in range(3))
    yellow_arm = (r > 180) & (g > 140) & (b < 80)
    red_brick = (r > 120) & (g < 60) & (b < 60)
    assert yellow_arm.sum() > 200, "the arm is not in view"
    assert red_brick.sum() > 10, "the brick is not in view"
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50
    # Physics ticks on the control-loop clock, which drew the window's frames in between.
    clock = re.search(r"physics at 30 Hz: \d+ late tick\(s\) of (\d+).*, (\d+) view frames", result.stdout)
    assert clock is not None, result.stdout
    assert int(clock.group(1)) >= 1 and int(clock.group(2)) >= 15


def test_view_without_a_display_says_how_to_get_one() -> None:
    environment = {key: value for key, value in _environment().items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run(
        [str(SO101), "view", "--frames", "1"], capture_output=True, text=True, env=environment, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "no display" in result.stderr and "xvfb-run -a so101 view" in result.stderr
