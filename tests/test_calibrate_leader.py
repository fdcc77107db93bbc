"""``so101 calibrate-leader`` runs LeRobot's interactive calibration; the emulator plays the human's hand."""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest

from so101.teleop.calibrate_leader import main
from so101.teleop.feetech.calibration import CalibrationError
from so101.teleop.feetech.emulator import FeetechBusEmulator
from so101.teleop.leader import LeaderArm, LeaderConfig

MIDDLE = np.array([2100, 1900, 2000, 2200, 2048, 1500])
SWING = 600  # ticks each joint moves away from the middle, both ways


def hand_motion() -> np.ndarray:
    """Encoder samples (ticks): from the middle pose, each joint in turn to -SWING, +SWING and back."""
    samples = [MIDDLE]
    for joint in range(6):
        for delta in (-SWING, SWING, 0):
            pose = MIDDLE.copy()
            pose[joint] += delta
            samples.append(pose)
    return np.array(samples)


@pytest.fixture
def human(monkeypatch):
    """Answers LeRobot's prompts and moves the arm: ENTER at "middle", then one sample per recorded read."""
    now = [0.0]
    emulator = FeetechBusEmulator(encoders=MIDDLE.tolist(), clock=lambda: now[0])
    motion = hand_motion()
    prompts = []

    def answer(prompt: str = "") -> str:
        prompts.append(prompt)
        emulator.play(motion, units=("ticks",) * 6, rate_hz=1.0)
        return ""

    def enter_pressed() -> bool:  # polled once per range-recording read
        now[0] += 1.0
        return now[0] > len(motion)

    import lerobot.motors.motors_bus

    monkeypatch.setattr(builtins, "input", answer)
    monkeypatch.setattr(lerobot.motors.motors_bus, "enter_pressed", enter_pressed)
    with emulator:
        yield emulator, prompts


def test_calibration_is_saved_written_to_the_servos_and_usable(human, tmp_path):
    emulator, prompts = human
    argv = ["--leader.port", emulator.port, "--leader.id", "my_leader", "--leader.calibration_dir", str(tmp_path)]
    assert main(argv) == 0
    assert len(prompts) == 1 and "middle" in prompts[0]

    saved = json.loads((tmp_path / "my_leader.json").read_text())
    offsets = MIDDLE - 2047  # LeRobot centres each servo's reading at half a turn
    for i, (name, entry) in enumerate(saved.items()):
        assert entry["homing_offset"] == offsets[i]
        assert emulator.register(i + 1, "Homing_Offset") == offsets[i]
        if name == "wrist_roll":  # a full-turn joint: LeRobot does not record its range
            assert (entry["range_min"], entry["range_max"]) == (0, 4095)
        else:
            assert (entry["range_min"], entry["range_max"]) == (2047 - SWING, 2047 + SWING)

    # The new file works: back at the middle pose every body joint reads 0 deg and the gripper half open.
    emulator.play(np.array([MIDDLE]), units=("ticks",) * 6)
    with LeaderArm(LeaderConfig(port=emulator.port, id="my_leader", calibration_dir=tmp_path)) as leader:
        np.testing.assert_allclose(leader.read(), [0, 0, 0, 0, 0, 50], atol=0.1)


def test_enter_writes_an_existing_file_back_to_reset_servos(human, tmp_path):
    emulator, prompts = human
    argv = ["--leader.port", emulator.port, "--leader.id", "arm", "--leader.calibration_dir", str(tmp_path)]
    assert main(argv) == 0
    emulator.set_register(2, "Homing_Offset", 0)  # e.g. the servo was swapped for a new one
    config = LeaderConfig(port=emulator.port, id="arm", calibration_dir=tmp_path)
    with pytest.raises(CalibrationError, match="press ENTER"):
        LeaderArm(config).connect()
    assert main(argv) == 0  # LeRobot asks whether to use the file; the answer is ENTER
    assert "Press ENTER to use provided calibration file" in prompts[-1]
    assert emulator.register(2, "Homing_Offset") == MIDDLE[1] - 2047
    with LeaderArm(config) as leader:
        assert leader.read().shape == (6,)


def test_wrong_port_fails_with_the_port_list(tmp_path, capsys):
    assert main(["--leader.port", "/dev/ttyNOPE0", "--leader.calibration_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("so101 calibrate-leader: no serial port /dev/ttyNOPE0. Serial ports found")
    assert len(err.strip().splitlines()) == 1


def test_joints_that_did_not_move_name_the_fix(human, tmp_path, capsys, monkeypatch):
    emulator, _prompts = human
    emulator.play(lambda t: MIDDLE, units=("ticks",) * 6)
    monkeypatch.setattr(builtins, "input", lambda prompt="": "")  # ENTER at every prompt; the hand stays still
    argv = ["--leader.port", emulator.port, "--leader.id", "lazy", "--leader.calibration_dir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "same min and max" in err and "Move every joint except wrist_roll through its whole range" in err
    assert not (tmp_path / "lazy.json").exists()
