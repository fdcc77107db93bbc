"""LeaderArm over LeRobot's SO101Leader, talking to the Feetech bus emulator through a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from so101.errors import So101Error
from so101.kinematics.units import JOINT_FEATURE_NAMES
from so101.teleop.feetech.calibration import CalibrationError
from so101.teleop.feetech.emulated_arm import store_calibration, write_calibration_file
from so101.teleop.feetech.emulator import FeetechBusEmulator
from so101.teleop.feetech.ports import PortError
from so101.teleop.leader import LeaderArm, LeaderConfig, LeaderDisconnected, calibration_path, lerobot_leader


@pytest.fixture
def clock():
    return [0.0]


@pytest.fixture
def emulator(clock):
    with FeetechBusEmulator(clock=lambda: clock[0]) as emu:
        store_calibration(emu)
        yield emu


@pytest.fixture
def config(emulator, tmp_path):
    write_calibration_file(tmp_path, "test_leader")
    return LeaderConfig(port=emulator.port, id="test_leader", calibration_dir=tmp_path)


@pytest.fixture
def leader(config):
    with LeaderArm(config) as arm:
        yield arm


POSE = np.array([10.0, -20.0, 30.0, -40.0, 50.0, 25.0])


def test_reads_the_pose_in_dataset_units(leader, emulator):
    emulator.play(lambda t: POSE)
    reading = leader.read()
    assert reading.shape == (6,)
    np.testing.assert_allclose(reading, POSE, atol=0.1)  # one tick is 0.09 deg
    assert leader.stats.reads == 1 and leader.stats.retries == 0


def test_scripted_trajectory_moves_the_reading(leader, emulator, clock):
    samples = np.stack([np.linspace(-60, 60, 5)] * 5 + [np.linspace(0, 100, 5)], axis=1)
    emulator.play(samples, rate_hz=30.0)
    readings = []
    for k in range(len(samples)):
        clock[0] = k / 30.0 + 1e-6
        readings.append(leader.read())
    np.testing.assert_allclose(readings, samples, atol=0.1)


def test_range_m100_100_mode(emulator, config):
    config.norm_mode = "range_m100_100"
    pose = np.array([-50.0, 0.0, 50.0, 99.0, -99.0, 60.0])
    emulator.play(lambda t: pose, units=("range_m100_100",) * 5 + ("range_0_100",))
    with LeaderArm(config) as arm:
        np.testing.assert_allclose(arm.read(), pose, atol=0.1)


def test_overrides_flip_and_shift_joints(emulator, config, tmp_path):
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"shoulder_pan": {"sign": -1}, "wrist_roll": {"offset": 90.0}}))
    config.overrides_path = overrides
    emulator.play(lambda t: POSE)
    with LeaderArm(config) as arm:
        np.testing.assert_allclose(arm.read(), POSE * [-1, 1, 1, 1, 1, 1] + [0, 0, 0, 0, 90, 0], atol=0.1)


def test_bad_overrides_name_the_entry(config, tmp_path):
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"elbow": {"sign": -1}}))
    config.overrides_path = overrides
    with pytest.raises(ValueError, match="unknown joint 'elbow'"):
        LeaderArm(config)


def test_corrupted_replies_are_retried_and_counted(leader, emulator):
    emulator.play(lambda t: POSE)
    # Status packets: all six answers of one sync read, then the first one of the next.
    emulator.corrupt_next_replies(7)
    np.testing.assert_allclose(leader.read(), POSE, atol=0.1)
    assert leader.stats.retries == 2 and leader.stats.stale_reads == 0
    assert emulator.counters.corrupted == 7


def test_lost_reply_beyond_the_budget_reuses_the_last_reading(leader, emulator):
    emulator.play(lambda t: POSE)
    previous = leader.read()
    emulator.drop_next_replies(1)  # the SDK waits ~50 ms for it, more than one 30 Hz step
    np.testing.assert_array_equal(leader.read(), previous)
    assert leader.stats.stale_reads == 1
    np.testing.assert_allclose(leader.read(), POSE, atol=0.1)


def test_late_reply_is_flushed_so_later_reads_are_fresh(leader, emulator):
    emulator.play(lambda t: POSE)
    leader.read()
    # Later than LeRobot's reply timeout (34 ms) twice over: the read gives up and reuses the last reading, and
    # both answers land in the input buffer afterwards.
    emulator.delay_next_answers(1, 0.08)
    np.testing.assert_allclose(leader.read(), POSE, atol=0.1)
    assert leader.stats.stale_reads == 1
    moved = POSE + 5.0
    emulator.play(lambda t: moved)
    time.sleep(0.1)  # the late answers arrive
    for _ in range(2):
        np.testing.assert_allclose(leader.read(), moved, atol=0.1)
    assert emulator.counters.delayed == 1


def test_unplug_raises_leader_disconnected(leader, emulator):
    leader.read()
    emulator.unplug()
    with pytest.raises(LeaderDisconnected, match="unplugged"):
        leader.read()
    assert not leader.is_connected
    leader.disconnect()  # quiet once gone


def test_missing_calibration_names_the_command(emulator, tmp_path):
    config = LeaderConfig(port=emulator.port, id="nobody", calibration_dir=tmp_path)
    expected = (
        f"so101 calibrate-leader --leader.port {emulator.port} --leader.id nobody --leader.calibration_dir {tmp_path}"
    )
    with pytest.raises(CalibrationError) as error:
        LeaderArm(config).connect()
    assert str(error.value).endswith(expected)


def test_mismatched_calibration_names_the_servo_and_the_command(emulator, config):
    emulator.set_register(3, "Homing_Offset", 41)
    with pytest.raises(CalibrationError, match=r"elbow_flex.*so101 calibrate-leader") as error:
        LeaderArm(config).connect()
    assert "offset 40" in str(error.value) and "offset 41" in str(error.value)


def test_wrong_port_lists_the_ports(tmp_path):
    config = LeaderConfig(port="/dev/ttyNOPE0", id="x", calibration_dir=tmp_path)
    with pytest.raises(PortError, match=r"no serial port /dev/ttyNOPE0\. Serial ports found"):
        LeaderArm(config).connect()


def test_busy_port_names_the_other_process(config):
    held = os.open(config.port, os.O_RDWR | os.O_NOCTTY)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdin=held)
    os.close(held)
    try:
        with pytest.raises(PortError, match=rf"busy: already open in pid {other.pid}"):
            LeaderArm(config).connect()
    finally:
        other.kill()
        other.wait()


def test_missing_servo_is_a_port_error(tmp_path):
    write_calibration_file(tmp_path, "five")
    with FeetechBusEmulator(ids=[1, 2, 3, 4, 5]) as emu, pytest.raises(PortError, match="no leader arm answered"):
        LeaderArm(LeaderConfig(port=emu.port, id="five", calibration_dir=tmp_path)).connect()


def test_default_calibration_location(monkeypatch, tmp_path):
    from lerobot.utils import constants

    monkeypatch.setattr(constants, "HF_LEROBOT_CALIBRATION", tmp_path)
    config = LeaderConfig(id="arm")
    assert calibration_path(config) == tmp_path / "teleoperators" / "so_leader" / "arm.json"
    legacy = tmp_path / "teleoperators" / "so101_leader"
    legacy.mkdir(parents=True)
    write_calibration_file(legacy, "arm")
    assert calibration_path(config) == legacy / "arm.json"


def test_errors_are_usage_errors_naming_the_flag(tmp_path):
    # The command layer prints a So101Error as one line naming the fix; a bad option names its flag.
    assert issubclass(PortError, So101Error) and issubclass(CalibrationError, So101Error)
    with pytest.raises(ValueError, match=r"--leader\.norm_mode must be one of degrees, range_m100_100"):
        LeaderConfig(norm_mode="radians")
    with pytest.raises(ValueError, match=r"--leader\.disconnect_after_s"):
        LeaderConfig(disconnect_after_s=0)


def test_joint_order_matches_lerobot(config):
    assert tuple(lerobot_leader(config).action_features) == JOINT_FEATURE_NAMES
