"""``so101 calibrate-leader``: run LeRobot's own calibration of an SO-100/SO-101 leader arm.

LeRobot asks to move the arm to the middle of its range and press ENTER, then to move every joint
through its whole range and press ENTER again; it writes the homing offsets and limits into the servos
and saves ``<calibration_dir>/<id>.json``, the file ``LeaderArm`` reads. If that file exists already,
LeRobot first offers to write it to the servos instead (ENTER) or to calibrate again ('c').
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import draccus

from teleop.leader import LeaderConfig, LeaderError, calibration_path, check_port, lerobot_leader


@dataclass
class CalibrateLeaderConfig:
    """Options of ``so101 calibrate-leader``."""

    leader: LeaderConfig = field(default_factory=LeaderConfig)


def calibrate(config: LeaderConfig) -> None:
    """Calibrate the leader on ``config.port`` interactively and save its calibration file."""
    check_port(config.port)
    leader = lerobot_leader(config)
    try:
        leader.bus.connect()
    except (ConnectionError, RuntimeError) as error:
        raise LeaderError(
            f"no leader arm answered on {config.port} ({error}); check its power supply and --leader.port"
        ) from error
    try:
        leader.calibrate()
    finally:
        leader.bus.disconnect()


def main(argv: list[str]) -> int:
    """Entry point of ``so101 calibrate-leader --leader.port PORT --leader.id ID``; returns the exit status."""
    cfg = draccus.parse(config_class=CalibrateLeaderConfig, args=argv)
    try:
        calibrate(cfg.leader)
    except LeaderError as error:
        print(f"calibrate-leader: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # LeRobot's report of joints that did not move while ranges were recorded
        print(
            f"calibrate-leader: {error}\nMove every joint except wrist_roll through its whole range before "
            "pressing ENTER the second time, then run the command again.",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("calibrate-leader: interrupted; no calibration file was saved", file=sys.stderr)
        return 130
    print(f"leader {cfg.leader.id!r} calibrated: {calibration_path(cfg.leader)}")
    return 0
