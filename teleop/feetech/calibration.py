"""LeRobot's calibration files of Feetech arms: where they live, and whether they match the servos.

A file is ``<calibration_dir>/<id>.json``. Without an explicit directory it is LeRobot's standard place,
``$HF_LEROBOT_CALIBRATION/<category>/<name>/`` (``HF_LEROBOT_CALIBRATION`` defaults to
``~/.cache/huggingface/lerobot/calibration``); a file left by an older LeRobot under the device's former name is
used when the current place has none. LeRobot reads an arm only when its file matches the homing offsets and
position limits stored in the servos; ``check_file`` and ``check_servos`` say so before LeRobot would, naming the
command that fixes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from so101.errors import DeviceError

if TYPE_CHECKING:
    from lerobot.motors import MotorCalibration
    from lerobot.motors.feetech import FeetechMotorsBus


class CalibrationError(DeviceError):
    """The calibration file is missing or does not match the servos."""


@dataclass(frozen=True)
class CalibrationLocation:
    """Where LeRobot keeps one kind of device's calibration files, under ``HF_LEROBOT_CALIBRATION``."""

    category: str
    """``teleoperators`` or ``robots``."""
    name: str
    """The device's folder in current LeRobot (0.4): ``so_leader``, ``so_follower``."""
    legacy_name: str
    """Its folder in older LeRobot versions, still read when the current one has no file: ``so101_leader``."""


LEADER = CalibrationLocation("teleoperators", "so_leader", "so101_leader")
"""SO-100 and SO-101 leader arms (LeRobot's ``so101_leader`` teleoperator)."""

FOLLOWER = CalibrationLocation("robots", "so_follower", "so101_follower")
"""SO-100 and SO-101 follower arms (LeRobot 0.4.4's ``SOFollower``, whose ``name`` is ``so_follower``)."""


def calibration_path(location: CalibrationLocation, arm_id: str, calibration_dir: Path | None = None) -> Path:
    """The calibration file of the arm ``arm_id``: in ``calibration_dir`` when given, else LeRobot's place."""
    if calibration_dir is not None:
        return Path(calibration_dir) / f"{arm_id}.json"
    from lerobot.utils import constants

    root = constants.HF_LEROBOT_CALIBRATION / location.category
    current = root / location.name / f"{arm_id}.json"
    legacy = root / location.legacy_name / f"{arm_id}.json"
    return legacy if legacy.is_file() and not current.is_file() else current


def check_file(path: Path, arm: str, fix: str) -> None:
    """Raise ``CalibrationError`` naming ``fix`` (the command that calibrates the arm) if ``path`` is missing.

    Args:
        path: the calibration file.
        arm: the arm and its id, for the message (``the leader 'my_leader'``).
        fix: the command that writes the file.
    """
    if not path.is_file():
        raise CalibrationError(f"no calibration file for {arm} (looked for {path}). Calibrate it with: {fix}")
    problem = calibration_problem(path)
    if problem:
        raise CalibrationError(f"{path} {problem}. Calibrate the arm again with: {fix} (it writes a new file)")


CALIBRATION_FIELDS = ("id", "drive_mode", "homing_offset", "range_min", "range_max")
"""The integer fields of each joint's entry in LeRobot's calibration file (``lerobot.motors.MotorCalibration``)."""
MAX_TICKS = 4095
"""Largest position of the STS3215's 12-bit encoder."""
MAX_HOMING_OFFSET = 2047
"""Largest homing offset magnitude the STS3215 stores (11 bits and a sign)."""


def calibration_problem(path: Path) -> str | None:
    """What makes ``path`` unfit as an SO-101 arm's LeRobot calibration file (said as the end of a sentence
    starting with the path), or None when LeRobot can use it: valid JSON, the six joints of ``JOINT_NAMES`` and no
    others, integer fields, ranges within the encoder's 0..4095."""
    from so101.kinematics.units import JOINT_NAMES

    try:
        entries = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        return f"is not valid JSON ({err})"
    if not isinstance(entries, dict) or not all(isinstance(entry, dict) for entry in entries.values()):
        return "is not a LeRobot calibration file (a JSON object of joint name -> its calibration)"
    foreign = sorted(set(entries) - set(JOINT_NAMES))
    if foreign:
        return f"calibrates joints {foreign} that an SO-101 arm does not have (another robot's file?)"
    missing = [name for name in JOINT_NAMES if name not in entries]
    if missing:
        return f"lacks the joints {missing}"
    for name in JOINT_NAMES:
        entry = entries[name]
        absent = [key for key in CALIBRATION_FIELDS if not isinstance(entry.get(key), int)]
        if absent:
            return f"has no integer {', '.join(absent)} for {name}"
        low, high, offset = entry["range_min"], entry["range_max"], entry["homing_offset"]
        if not 0 <= low < high <= MAX_TICKS:
            return f"gives {name} the range {low}..{high}, outside the encoder's 0..{MAX_TICKS} or empty"
        if abs(offset) > MAX_HOMING_OFFSET:
            return f"gives {name} the homing offset {offset}, beyond the servo's +-{MAX_HOMING_OFFSET}"
    return None


def check_servos(
    bus: FeetechMotorsBus, calibration: dict[str, MotorCalibration], path: Path, arm: str, fix: str
) -> None:
    """Raise ``CalibrationError`` if the calibration in the servos on ``bus`` differs from the file's.

    Args:
        bus: LeRobot's bus, connected.
        calibration: the file's calibration, by motor name (what LeRobot loaded from ``path``).
        path: the file, for the message.
        arm: the arm and its id, for the message (``the leader 'my_leader'``).
        fix: the command that calibrates the arm; LeRobot's calibration offers to write an existing file to the
            servos first (ENTER) or to calibrate again ('c').
    """
    difference = calibration_difference(bus, calibration)
    if difference:
        raise CalibrationError(
            f"the calibration file {path} does not match the servos on {bus.port} ({difference}). If this is "
            f"{arm} (its servos were reset or replaced), run {fix} and press ENTER at the first question to write "
            "the file to the servos; otherwise type 'c' there to calibrate again."
        )


def calibration_difference(bus: FeetechMotorsBus, calibration: dict[str, MotorCalibration]) -> str | None:
    """The first difference between the servos' stored calibration and ``calibration``; None when they match."""
    in_servos = bus.read_calibration()
    for motor, expected in calibration.items():
        found = in_servos.get(motor)
        if found is None:
            return f"{motor} is not on the bus"
        if (found.homing_offset, found.range_min, found.range_max) != (
            expected.homing_offset,
            expected.range_min,
            expected.range_max,
        ):
            return (
                f"{motor}: file has offset {expected.homing_offset}, range {expected.range_min}..{expected.range_max}; "
                f"servo has offset {found.homing_offset}, range {found.range_min}..{found.range_max}"
            )
    missing = sorted(set(in_servos) - set(calibration))
    return f"the file has no entry for {', '.join(missing)}" if missing else None
