"""The emulated arm's calibration: LeRobot finds the servos and the file in agreement, and real files are safe."""

from __future__ import annotations

import json

import numpy as np
import pytest

from so101.errors import So101Error
from so101.teleop.feetech.emulated_arm import EXAMPLE_CALIBRATION, prepare, write_calibration_file
from so101.teleop.feetech.emulator import FeetechBusEmulator


def test_lerobot_reads_the_prepared_arm_in_its_units(tmp_path):
    from lerobot.teleoperators.so_leader import SO101Leader, SO101LeaderConfig

    with FeetechBusEmulator() as emulator:
        path = prepare(emulator, tmp_path, "emu")
        assert json.loads(path.read_text())["elbow_flex"]["homing_offset"] == EXAMPLE_CALIBRATION["elbow_flex"][0]
        leader = SO101Leader(SO101LeaderConfig(port=emulator.port, id="emu", calibration_dir=tmp_path))
        leader.bus.connect()
        try:
            assert leader.bus.is_calibrated
            pose = np.array([10.0, -20.0, 30.0, -40.0, 50.0, 25.0])
            emulator.play(lambda t: pose)
            action = leader.get_action()
        finally:
            leader.bus.port_handler.closePort()
    np.testing.assert_allclose(list(action.values()), pose, atol=0.1)


def test_the_same_file_is_kept_and_another_arms_file_is_refused(tmp_path):
    path = write_calibration_file(tmp_path, "emu")
    before = path.stat().st_mtime_ns
    assert write_calibration_file(tmp_path, "emu") == path and path.stat().st_mtime_ns == before
    path.write_text('{"shoulder_pan": {"id": 1}}')
    with pytest.raises(So101Error, match="holds another arm's calibration"):
        write_calibration_file(tmp_path, "emu")
    path.write_text("not json")
    with pytest.raises(So101Error, match="holds something that is not valid JSON"):
        write_calibration_file(tmp_path, "emu")
    assert path.read_text() == "not json"
