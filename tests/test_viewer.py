"""The desktop viewer, in a real GLFW window on a virtual X display (Xvfb)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (apt-get install xvfb xauth)")


def test_view_opens_a_window_showing_the_scene(tmp_path: Path) -> None:
    screenshot = tmp_path / "view.png"
    so101 = Path(sys.executable).with_name("so101")
    environment = {key: value for key, value in os.environ.items() if key not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1024x768x24", str(so101), "view",
         "--frames", "15", "--width", "480", "--height", "360", "--screenshot", str(screenshot)],
        capture_output=True, text=True, env=environment, timeout=300,
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
