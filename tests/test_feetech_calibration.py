"""LeRobot's calibration files of Feetech arms: locations, a missing file, and servos that do not match the file."""

from __future__ import annotations

import pytest

from so101.errors import So101Error
from so101.teleop.feetech.calibration import (
    LEADER,
    CalibrationError,
    CalibrationLocation,
    calibration_difference,
    calibration_path,
    check_file,
    check_servos,
)
from so101.teleop.feetech.emulated_arm import prepare
from so101.teleop.feetech.emulator import FeetechBusEmulator


@pytest.fixture
def calibrated_bus(tmp_path):
    """LeRobot's SO-101 leader bus, connected to an emulated arm calibrated like its file."""
    from lerobot.teleoperators.so_leader import SO101Leader, SO101LeaderConfig

    with FeetechBusEmulator() as emulator:
        path = prepare(emulator, tmp_path, "arm")
        leader = SO101Leader(SO101LeaderConfig(port=emulator.port, id="arm", calibration_dir=tmp_path))
        leader.bus.connect()
        yield emulator, leader, path
        leader.bus.port_handler.closePort()


def test_explicit_directory_and_lerobots_places(monkeypatch, tmp_path):
    from lerobot.utils import constants

    assert calibration_path(LEADER, "arm", tmp_path / "mine") == tmp_path / "mine" / "arm.json"
    monkeypatch.setattr(constants, "HF_LEROBOT_CALIBRATION", tmp_path)
    follower = CalibrationLocation("robots", "so_follower", "so101_follower")
    assert calibration_path(follower, "arm") == tmp_path / "robots" / "so_follower" / "arm.json"
    legacy = tmp_path / "robots" / "so101_follower" / "arm.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text("{}")
    assert calibration_path(follower, "arm") == legacy  # an older LeRobot's file, while the new place has none
    current = tmp_path / "robots" / "so_follower" / "arm.json"
    current.parent.mkdir(parents=True)
    current.write_text("{}")
    assert calibration_path(follower, "arm") == current


def test_missing_file_names_the_command_that_writes_it(tmp_path):
    with pytest.raises(CalibrationError) as error:
        check_file(tmp_path / "x.json", "the leader 'x'", "so101 calibrate-leader --leader.id x")
    assert str(error.value) == (
        f"no calibration file for the leader 'x' (looked for {tmp_path / 'x.json'}). "
        "Calibrate it with: so101 calibrate-leader --leader.id x"
    )
    assert isinstance(error.value, So101Error)


def test_matching_servos_pass_and_a_changed_servo_is_named(calibrated_bus):
    emulator, leader, path = calibrated_bus
    assert calibration_difference(leader.bus, leader.calibration) is None
    check_servos(leader.bus, leader.calibration, path, "the arm 'arm'", "fix-it")
    emulator.set_register(5, "Max_Position_Limit", 4000)
    assert calibration_difference(leader.bus, leader.calibration) == (
        "wrist_roll: file has offset 300, range 0..4095; servo has offset 300, range 0..4000"
    )
    with pytest.raises(CalibrationError, match=r"does not match the servos on .*run fix-it and press ENTER"):
        check_servos(leader.bus, leader.calibration, path, "the arm 'arm'", "fix-it")


def test_a_file_without_a_servo_is_a_mismatch(calibrated_bus):
    _emulator, leader, _path = calibrated_bus
    partial = {name: entry for name, entry in leader.calibration.items() if name != "gripper"}
    assert calibration_difference(leader.bus, partial) == "the file has no entry for gripper"
