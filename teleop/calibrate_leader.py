"""``so101 calibrate-leader``: run LeRobot's own calibration of an SO-100/SO-101 leader arm.

    so101 calibrate-leader --leader.port /dev/ttyACM0 --leader.id my_leader

LeRobot asks to move the arm to the middle of its range and press ENTER, then to move every joint through its
whole range and press ENTER again; it writes the homing offsets and limits into the servos and saves
``<calibration_dir>/<id>.json``, the file ``LeaderArm`` reads. If that file exists already, LeRobot first offers to
write it to the servos instead (ENTER) or to calibrate again ('c').
"""

from __future__ import annotations

from dataclasses import dataclass, field

from so101.command import run_command
from so101.errors import DeviceError
from so101.teleop.feetech.calibration import CalibrationError, calibration_problem
from so101.teleop.feetech.ports import check_port, open_bus
from so101.teleop.leader import ARM, LeaderConfig, calibration_path, lerobot_leader


@dataclass
class CalibrateLeaderConfig:
    """Options of ``so101 calibrate-leader``."""

    leader: LeaderConfig = field(default_factory=LeaderConfig)
    """The leader arm to calibrate (``--leader.port``, ``--leader.id``, ``--leader.calibration_dir``)."""


def calibrate(config: LeaderConfig) -> None:
    """Calibrate the leader on ``config.port`` interactively and save its calibration file.

    Raises:
        PortError: the port is missing or busy, or no arm answers on it.
        CalibrationError: the arm's calibration file exists but LeRobot cannot use it.
        DeviceError: a joint did not move while the ranges were recorded.
    """
    check_port(config.port, "--leader.port", ARM)
    path = calibration_path(config)
    problem = calibration_problem(path) if path.is_file() else None
    if problem:
        # LeRobot would load it before asking anything, and fail on it.
        raise CalibrationError(
            f"{path} {problem}. Move it out of {path.parent} (it is left as it is) and run this command again to "
            "calibrate the arm afresh"
        )
    leader = lerobot_leader(config)
    open_bus(leader.bus, ARM)
    try:
        leader.calibrate()
    except ValueError as error:  # LeRobot's report of joints that did not move while ranges were recorded
        raise DeviceError(
            f"{error}. Move every joint except wrist_roll through its whole range before pressing ENTER the second "
            "time, then run the command again."
        ) from error
    finally:
        leader.bus.disconnect()


def calibrate_leader(cfg: CalibrateLeaderConfig) -> int:
    """Body of ``so101 calibrate-leader``."""
    calibrate(cfg.leader)
    print(f"leader {cfg.leader.id!r} calibrated: {calibration_path(cfg.leader)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 calibrate-leader --leader.port PORT --leader.id ID``; returns the exit status."""
    return run_command("calibrate-leader", CalibrateLeaderConfig, calibrate_leader, argv)
