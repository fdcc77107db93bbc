"""``so101 emulate leader``: a separate process serves an emulated leader; the real leader path drives the sim."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from so101.teleop.emulate_cmd import main
from so101.teleop.teleop_cmd import main as teleop_main

REPO_ROOT = Path(__file__).resolve().parents[1]


def start_emulator(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """``so101 emulate`` in its own process; returns it with its output up to the command it suggests."""
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "so101", "emulate", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
    )  # fmt: skip
    lines: list[str] = []
    while not any(line.startswith("try:") for line in lines):
        line = process.stdout.readline()
        if not line:
            process.wait(timeout=10)
            pytest.fail(f"so101 emulate ended before printing its port: {lines} {process.stderr.read()}")
        lines.append(line.rstrip("\n"))
    return process, lines


def check_tables(out: str) -> list[np.ndarray]:
    """The leader column of every ``--check`` table: (6,) per table."""
    lines = out.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("joint ")]
    return [np.array([float(line.split()[1]) for line in lines[i + 1 : i + 7]]) for i in starts]


def test_teleop_runs_on_the_printed_port_and_the_joints_move(tmp_path, capsys):
    emulator, lines = start_emulator(
        "leader", "--calibration_dir", str(tmp_path), "--speed", "2", "--duration_s", "120"
    )
    try:
        port = next(line.split(" on ")[1] for line in lines if line.startswith("emulated SO-101 leader arm"))
        suggested = shlex.split(next(line for line in lines if line.startswith("try:"))[len("try:") :])
        arm_id = "emulated_leader_" + port.removeprefix("/dev/").replace("/", "")  # its own, from its port
        assert suggested == ["so101", "teleop", "--teleop", "leader", "--leader.port", port,
                             "--leader.id", arm_id, "--leader.calibration_dir", str(tmp_path)]  # fmt: skip
        assert json.loads((tmp_path / f"{arm_id}.json").read_text())["gripper"]["id"] == 6
        # The suggested command, run in this process through LeRobot's so101_leader over the pseudo-terminal.
        assert teleop_main([*suggested[2:], "--headless", "--check", "--duration_s", "1.6"]) == 0
    finally:
        emulator.send_signal(signal.SIGINT)
        _, err = emulator.communicate(timeout=20)
    out = capsys.readouterr().out
    tables = check_tables(out)
    assert len(tables) >= 3
    # The wave moves every joint; at twice its speed each one travels several degrees within 1.6 s.
    travel = np.ptp(np.stack(tables), axis=0)
    assert np.all(travel > 3.0), travel
    assert "leader arm: 48 reads, 0 retried, 0 stale" in out
    assert emulator.returncode == 130 and "so101 emulate: interrupted" in err


def test_writes_the_calibration_in_lerobots_place_and_stops_after_the_duration(monkeypatch, tmp_path, capsys):
    from lerobot.utils import constants

    monkeypatch.setattr(constants, "HF_LEROBOT_CALIBRATION", tmp_path)
    assert main(["leader", "--id", "demo", "--trajectory", "sweep", "--duration_s", "0.1"]) == 0
    out = capsys.readouterr().out
    path = tmp_path / "teleoperators" / "so_leader" / "demo.json"
    assert path.is_file() and f"calibration file: {path}" in out
    assert "joints: sweep trajectory at 1x speed" in out
    try_line = next(line for line in out.splitlines() if line.startswith("try:"))
    assert try_line.endswith("--leader.id demo") and "calibration_dir" not in try_line
    assert "served 0 requests" in out
    assert main(["leader", "--id", "demo", "--duration_s", "0.1"]) == 0  # its own file again: fine


def test_never_replaces_another_arms_calibration(tmp_path, capsys):
    mine = tmp_path / "my_leader.json"
    mine.write_text(json.dumps({"shoulder_pan": {"id": 1, "homing_offset": 7}}))
    assert main(["leader", "--id", "my_leader", "--calibration_dir", str(tmp_path), "--duration_s", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"so101 emulate: {mine} holds another arm's calibration") and "another id" in err
    assert json.loads(mine.read_text())["shoulder_pan"]["homing_offset"] == 7


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "name the device to emulate: so101 emulate leader"),
        (["robot"], "'robot' is not one of leader, follower"),
        (["leader", "--speed", "0"], "--speed must be positive, got 0"),
        (["leader", "--trajectory", "dance"], "'dance' is not one of wave, sweep, still"),
        (["leader", "extra"], "unexpected argument 'extra'"),
    ],
)
def test_usage_errors_name_the_fix(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("so101 emulate: ") and message in err and len(err.strip().splitlines()) == 1


def test_two_followers_on_one_machine_share_no_calibration_file_or_pose_feed(tmp_path):
    running = [start_emulator("follower", "--calibration_dir", str(tmp_path), "--duration_s", "60") for _ in range(2)]
    try:
        found = []
        for _process, lines in running:
            port = next(line.split(" on ")[1] for line in lines if line.startswith("emulated SO-101 follower arm"))
            calibration = next(line.split(": ", 1)[1] for line in lines if line.startswith("calibration file:"))
            feed = next(line.split(": ", 1)[1] for line in lines if line.startswith("pose feed:"))
            found.append((port, calibration, feed))
            arm_id = "emulated_follower_" + port.removeprefix("/dev/").replace("/", "")
            assert calibration == str(tmp_path / f"{arm_id}.json") and feed.endswith(f"so101_{arm_id}.pose")
            assert Path(calibration).is_file()
        for column in zip(*found, strict=True):
            assert len(set(column)) == 2, found
    finally:
        for process, _lines in running:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=20)
