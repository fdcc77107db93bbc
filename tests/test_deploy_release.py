"""The follower's release on the emulated servos: torque read back off, a transaction cut short by Ctrl-C undone,
and an unplugged or silent bus reported as not verified (never claimed released)."""

from __future__ import annotations

import errno
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from so101.inference.deploy_release import Released, bus_lost, release
from so101.sim.simulator import START_POSE
from so101.teleop.feetech.follower_rig import FollowerRig


@pytest.fixture
def connected(tmp_path: Path) -> Iterator[tuple[FollowerRig, object]]:
    """The rig and LeRobot's follower connected to it, every servo holding torque."""
    from lerobot.robots.so_follower import SO101Follower, SO101FollowerConfig

    with FollowerRig(tmp_path, "rig", tmp_path / "pose", START_POSE) as rig:
        robot = SO101Follower(SO101FollowerConfig(port=rig.port, id="rig", calibration_dir=tmp_path))
        for attempt in range(3):  # LeRobot's handshake asks once; a loaded machine may serve a reply too late
            try:
                robot.connect(calibrate=False)
                break
            except RuntimeError:
                if robot.bus.port_handler.is_open:
                    robot.bus.port_handler.closePort()
                if attempt == 2:
                    raise
        assert all(rig.torque_enabled())
        yield rig, robot
        if robot.bus.port_handler.is_open:
            robot.bus.port_handler.closePort()


def test_release_switches_torque_off_and_reads_it_back(connected) -> None:
    rig, robot = connected
    result = release(robot)
    assert result == Released(True, 6, 6)
    assert result.line() == "follower released: torque off, read back from all 6 servos"
    assert not any(rig.torque_enabled()) and not robot.bus.port_handler.is_open


def test_a_transaction_cut_short_by_ctrl_c_does_not_block_the_release(connected) -> None:
    rig, robot = connected
    # What a KeyboardInterrupt inside the SDK's txRxPacket leaves: its busy flag set ("Port is in use!" after).
    robot.bus.port_handler.is_using = True
    assert release(robot).verified
    assert not any(rig.torque_enabled())


def test_an_unplugged_adapter_is_reported_as_not_released_at_once(connected) -> None:
    rig, robot = connected
    rig.emulator.unplug()
    start = time.monotonic()
    result = release(robot, timeout_s=30.0)
    assert time.monotonic() - start < 5.0, "the port is gone: nothing to wait for"
    assert not result.verified and "is gone" in result.problem
    line = result.line()
    assert line.startswith("follower NOT verified released") and "switch its power supply off" in line
    assert all(rig.torque_enabled())  # what the servos hold, as the message says


def test_a_bus_that_stays_silent_is_retried_then_reported(connected) -> None:
    rig, robot = connected
    rig.emulator.drop_next_replies(10_000)
    start = time.monotonic()
    result = release(robot, timeout_s=0.5)
    assert 0.5 <= time.monotonic() - start < 10.0
    assert not result.verified and "did not answer" in result.problem and "for 0.5 s" in result.problem
    assert "\n" not in result.line()


def test_a_lost_bus_is_told_from_other_errors(tmp_path: Path) -> None:
    import serial

    gone = str(tmp_path / "ttyACM0")
    here = tmp_path / "ttyUSB0"
    here.touch()
    assert bus_lost(serial.SerialException("device reports readiness to read but returned no data"), gone)
    assert bus_lost(termios.error(errno.EIO, "Input/output error"), str(here))
    assert bus_lost(OSError(errno.ENXIO, "No such device or address"), str(here))
    assert not bus_lost(RuntimeError("inside the policy"), str(here))
    assert not bus_lost(OSError(errno.ENOSPC, "No space left on device"), str(here))
    assert not bus_lost(ValueError("bad"), gone)
