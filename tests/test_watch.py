"""``so101 eval --render`` (so101.inference.watch): the project's window on a virtual X display, with the cameras
rendering offscreen through EGL in the same thread, torn down cleanly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from so101.inference.benchmark import write_untrained_checkpoint
from so101.policies.act import ActPolicyConfig

needs_xvfb = pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (apt install xvfb)")

TINY = ActPolicyConfig(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_vae_encoder_layers=1,
                       chunk_size=10, n_action_steps=10, image_height=48, image_width=64, pretrained_backbone=False,
                       device="cpu")  # fmt: skip


@needs_xvfb
def test_render_runs_episodes_in_the_window_and_exits_cleanly_under_egl(tmp_path: Path) -> None:
    checkpoint = write_untrained_checkpoint(tmp_path / "best" / "pretrained_model", TINY, (96, 128))
    so101 = Path(sys.executable).with_name("so101")
    # The offscreen cameras on EGL beside the window's GLX context: the set-up of the crash at exit it replaced.
    environment = {**os.environ, "MUJOCO_GL": "egl"}
    environment.pop("PYOPENGL_PLATFORM", None)
    result = subprocess.run(
        ["xvfb-run", "-a", str(so101), "eval", str(checkpoint.parent), "--render", "--episodes", "2",
         "--episode_time_s", "0.3"],
        capture_output=True, text=True, env=environment, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "X Error" not in result.stderr
    assert "seed 200000: failure in 9 steps" in result.stdout and "seed 200001: failure in 9 steps" in result.stdout
    assert "0/2 successes; scene seeds 200000-200001: test seeds" in result.stdout
    assert "pacing: " in result.stdout and "view frames" in result.stdout


def test_render_without_a_display_is_a_one_line_error(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    from so101.inference.evaluate_cmd import main

    if not sys.platform.startswith("linux"):
        pytest.skip("only X11 needs DISPLAY")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["ckpt", "--render"]) == 2
    err = capsys.readouterr().err
    assert "--render needs a display" in err and len(err.strip().splitlines()) == 1
