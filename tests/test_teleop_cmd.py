"""``so101 teleop --teleop leader``: the emulated leader drives the sim in real time; ``--check`` prints both."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from so101.teleop.feetech import emulated_arm
from so101.teleop.feetech.emulator import FeetechBusEmulator
from so101.teleop.teleop_cmd import main

REPO_ROOT = Path(__file__).resolve().parents[1]
POSE = np.array([10.0, -20.0, 30.0, -40.0, 50.0, 25.0])


@pytest.fixture
def emulator(tmp_path):
    with FeetechBusEmulator() as emu:
        emulated_arm.prepare(emu, tmp_path, "my_leader")
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
    assert "control loop: " in out and " late tick(s) of 36" in out


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


def _once_reading(emulator, action) -> threading.Event:
    """Run ``action`` from a thread once the control loop reads the arm (its third sync read of positions), so the
    connection handshake, however slow on a loaded machine, is never what the action hits. Set the returned event to
    give up waiting."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if emulator.counters.requests["sync_read"] >= 3:
                action()
                return
            time.sleep(0.002)

    threading.Thread(target=watch, daemon=True).start()
    return done


def test_corrupted_replies_mid_run_are_retried_and_reported(emulator, tmp_path, capsys):
    emulator.play(lambda t: POSE)
    # Six corrupted replies spoil one whole sync read, the seventh the next.
    done = _once_reading(emulator, lambda: emulator.corrupt_next_replies(7))
    try:
        assert main(argv(emulator, tmp_path, "--duration_s", "1.0")) == 0
    finally:
        done.set()
    assert "30 reads, 2 retried, 0 stale" in capsys.readouterr().out


def test_unplugged_leader_stops_with_a_message(emulator, tmp_path, capsys):
    emulator.play(lambda t: POSE)
    done = _once_reading(emulator, emulator.unplug)
    try:
        assert main(argv(emulator, tmp_path, "--duration_s", "30")) == 2
    finally:
        done.set()
    captured = capsys.readouterr()
    assert captured.err.startswith("so101 teleop: the leader arm on")
    assert "USB cable unplugged" in captured.err and "Plug it back in" in captured.err
    assert "leader arm:" in captured.out and "control loop:" in captured.out


def test_wrong_port_lists_the_ports_found(tmp_path, capsys):
    assert main(["--leader.port", "/dev/ttyNOPE7", "--leader.id", "x", "--headless"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("so101 teleop: no serial port /dev/ttyNOPE7. Serial ports found")
    assert len(err.strip().splitlines()) == 1


def test_busy_port_names_the_process_holding_it(emulator, tmp_path, capsys):
    held = os.open(emulator.port, os.O_RDWR | os.O_NOCTTY)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdin=held)
    os.close(held)
    try:
        assert main(argv(emulator, tmp_path, "--duration_s", "0.1")) == 2
    finally:
        other.kill()
        other.wait()
    assert f"is busy: already open in pid {other.pid}" in capsys.readouterr().err


def test_missing_calibration_names_the_command_that_fixes_it(emulator, tmp_path, capsys):
    assert main(argv(emulator, tmp_path, "--leader.id", "stranger", "--duration_s", "0.1")) == 2
    err = capsys.readouterr().err
    assert f"Calibrate it with: so101 calibrate-leader --leader.port {emulator.port} --leader.id stranger" in err


def test_unknown_device_and_bad_options_are_usage_errors(capsys):
    assert main(["--teleop", "joystick"]) == 2
    assert "'joystick' is not one of leader" in capsys.readouterr().err
    assert main(["--fps", "30"]) == 2
    assert "unknown option --fps" in capsys.readouterr().err
    assert main(["--duration_s", "-1"]) == 2
    assert "--duration_s must be positive" in capsys.readouterr().err


def test_scene_fps_sets_the_control_rate(emulator, tmp_path, capsys):
    emulator.play(lambda t: POSE)
    assert main(argv(emulator, tmp_path, "--scene.fps", "20", "--duration_s", "0.5")) == 0
    assert "leader arm: 10 reads" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (apt-get install xvfb xauth)")
def test_runs_in_the_viewer_window_when_a_display_is_there(emulator, tmp_path):
    emulator.play(lambda t: POSE)
    environment = {key: value for key, value in os.environ.items() if key not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    environment["PYTHONPATH"] = str(REPO_ROOT)
    window_argv = [arg for arg in argv(emulator, tmp_path, "--duration_s", "0.5") if arg not in ("--headless", "true")]
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1024x768x24", sys.executable, "-c",
         f"import sys; from so101.teleop.teleop_cmd import main; sys.exit(main({window_argv!r}))"],
        check=False, capture_output=True, text=True, env=environment, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "no window" not in result.stderr
    assert "leader arm: 15 reads, 0 retried, 0 stale" in result.stdout
