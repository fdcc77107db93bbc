"""``so101 teleop --teleop leader``: the emulated leader drives the sim in real time; ``--check`` prints both."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from teleop import emulated_leader
from teleop.feetech_emulator import FeetechBusEmulator
from teleop.teleop_cmd import main

REPO_ROOT = Path(__file__).resolve().parents[1]
POSE = np.array([10.0, -20.0, 30.0, -40.0, 50.0, 25.0])


@pytest.fixture
def emulator(tmp_path):
    with FeetechBusEmulator() as emu:
        emulated_leader.prepare(emu, tmp_path, "my_leader")
        yield emu


def argv(emulator, tmp_path, *extra: str) -> list[str]:
    return [
        "--teleop", "leader",
        "--leader.port", emulator.port,
        "--leader.id", "my_leader",
        "--leader.calibration_dir", str(tmp_path),
        "--headless", "true",
        *extra,
    ]  # fmt: skip


def last_table(out: str) -> dict[str, list[float]]:
    """Rows of the last ``--check`` table: joint -> [leader, sign, offset, target, sim]."""
    lines = out.splitlines()
    header = max(i for i, line in enumerate(lines) if line.startswith("joint "))
    block = lines[header + 1 : header + 7]
    return {line.split()[0]: [float(v.rstrip("*")) for v in line.split()[1:]] for line in block}


def test_check_prints_leader_and_sim_side_by_side(emulator, tmp_path, capsys):
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"wrist_roll": {"sign": -1, "offset": 5.0}}))
    emulator.play(lambda t: POSE)
    assert main(argv(emulator, tmp_path, "--check", "true", "--duration_s", "1.2",
                     "--leader.overrides_path", str(overrides))) == 0  # fmt: skip
    out = capsys.readouterr().out
    rows = last_table(out)
    assert list(rows) == ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
    leader, sign, offset, target, sim = np.array(list(rows.values())).T
    np.testing.assert_allclose(leader, POSE, atol=0.15)
    assert sign.tolist() == [1, 1, 1, 1, -1, 1] and offset.tolist() == [0, 0, 0, 0, 5, 0]
    np.testing.assert_allclose(target, POSE * [1, 1, 1, 1, -1, 1] + [0, 0, 0, 0, 5, 0], atol=0.15)
    np.testing.assert_allclose(sim, target, atol=0.5)  # the sim has settled on the targets after 36 steps
    assert "leader arm: 36 reads, 0 retried, 0 stale" in out


def test_reading_beyond_a_limit_is_marked_clamped(emulator, tmp_path, capsys):
    far = POSE.copy()
    far[0] = 170.0
    emulator.play(lambda t: far)
    assert main(argv(emulator, tmp_path, "--check", "true", "--duration_s", "0.1")) == 0
    out = capsys.readouterr().out
    leader, _sign, _offset, target, _sim = last_table(out)["shoulder_pan"]
    assert leader == pytest.approx(170.0, abs=0.15) and target == pytest.approx(110.0)
    assert "110.0*" in out and "*" not in out[out.index("shoulder_lift") :].splitlines()[0]
    assert "clamped to the joint limits: shoulder_pan 3" in out


def test_corrupted_replies_mid_run_are_retried_and_reported(emulator, tmp_path, capsys):
    emulator.play(lambda t: POSE)
    # After the connection handshake: six corrupted replies spoil one whole sync read, the seventh the next.
    timer = threading.Timer(0.3, emulator.corrupt_next_replies, (7,))
    timer.start()
    try:
        assert main(argv(emulator, tmp_path, "--duration_s", "1.0")) == 0
    finally:
        timer.cancel()
    assert "30 reads, 2 retried, 0 stale" in capsys.readouterr().out


def test_unplugged_leader_stops_with_a_message(emulator, tmp_path, capsys):
    emulator.play(lambda t: POSE)
    timer = threading.Timer(0.3, emulator.unplug)
    timer.start()
    try:
        assert main(argv(emulator, tmp_path, "--duration_s", "30")) == 1
    finally:
        timer.cancel()
    captured = capsys.readouterr()
    assert "USB cable unplugged" in captured.err and "Plug it back in" in captured.err
    assert "leader arm:" in captured.out


def test_wrong_port_lists_the_ports_found(tmp_path, capsys):
    assert main(["--leader.port", "/dev/ttyNOPE7", "--leader.id", "x", "--headless", "true"]) == 1
    assert "no serial port /dev/ttyNOPE7. Serial ports found" in capsys.readouterr().err


def test_unknown_device_is_a_usage_error(capsys):
    assert main(["--teleop", "joystick"]) == 2
    assert "choose one of leader" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (apt-get install xvfb xauth)")
def test_runs_in_the_viewer_window_when_a_display_is_there(emulator, tmp_path):
    emulator.play(lambda t: POSE)
    environment = {key: value for key, value in os.environ.items() if key not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    environment["PYTHONPATH"] = str(REPO_ROOT)
    window_argv = [arg for arg in argv(emulator, tmp_path, "--duration_s", "0.5") if arg not in ("--headless", "true")]
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1024x768x24", sys.executable, "-c",
         f"import sys; from teleop.teleop_cmd import main; sys.exit(main({window_argv!r}))"],
        check=False, capture_output=True, text=True, env=environment, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "no window" not in result.stderr
    assert "leader arm: 15 reads, 0 retried, 0 stale" in result.stdout
