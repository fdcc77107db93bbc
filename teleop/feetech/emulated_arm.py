"""A calibrated SO-101 arm on the bus emulator, as ``so101 calibrate-leader`` would have left a real one.

LeRobot reads an arm only when the calibration in its file matches the one stored in the servos (homing offsets
and position limits). ``prepare`` puts the same example calibration in both places.
"""

from __future__ import annotations

import json
from pathlib import Path

from so101.errors import DeviceError
from so101.kinematics.units import JOINT_NAMES
from so101.teleop.feetech.emulator import FeetechBusEmulator

EXAMPLE_CALIBRATION: dict[str, tuple[int, int, int]] = {
    "shoulder_pan": (120, 900, 3200),
    "shoulder_lift": (-250, 800, 3300),
    "elbow_flex": (40, 850, 3100),
    "wrist_flex": (-7, 870, 3150),
    "wrist_roll": (300, 0, 4095),
    "gripper": (-500, 2000, 3400),
}
"""Per joint: (homing offset, range min, range max) in ticks, as LeRobot's calibration of a real arm gives."""


def calibration_entries() -> dict[str, dict[str, int]]:
    """``EXAMPLE_CALIBRATION`` as the entries of LeRobot's calibration file (servo ids 1..6 in joint order)."""
    return {
        name: {"id": index + 1, "drive_mode": 0, "homing_offset": offset, "range_min": low, "range_max": high}
        for index, (name, (offset, low, high)) in enumerate(EXAMPLE_CALIBRATION.items())
    }


def write_calibration_file(directory: Path, arm_id: str) -> Path:
    """Write ``EXAMPLE_CALIBRATION`` as LeRobot's ``<directory>/<arm_id>.json``; returns its path.

    Raises:
        DeviceError: the file exists with another calibration (a real arm's, most likely): it is left alone.
    """
    path = Path(directory) / f"{arm_id}.json"
    entries = calibration_entries()
    if path.is_file():
        try:
            existing = json.loads(path.read_text())
        except ValueError:
            existing = None
        if existing != entries:
            what = "another arm's calibration" if existing is not None else "something that is not valid JSON"
            raise DeviceError(
                f"{path} holds {what}, which the emulated arm's would replace (it is left as it is); "
                "give the emulated arm another id or calibration directory"
            )
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=4))
    return path


def store_calibration(emulator: FeetechBusEmulator) -> None:
    """Write ``EXAMPLE_CALIBRATION`` into the emulated servos' registers (ids 1..6 in ``JOINT_NAMES`` order)."""
    for servo_id, name in enumerate(JOINT_NAMES, start=1):
        offset, low, high = EXAMPLE_CALIBRATION[name]
        emulator.set_register(servo_id, "Homing_Offset", offset)
        emulator.set_register(servo_id, "Min_Position_Limit", low)
        emulator.set_register(servo_id, "Max_Position_Limit", high)


def instance_id(device: str, port: str) -> str:
    """The default id of an emulated ``device`` (``leader``, ``follower``) serving on ``port``: unique among the
    emulators running on a machine (each has its own pseudo-terminal), so two never share a calibration file or a
    pose feed; ``/dev/pts/5`` gives ``emulated_follower_pts5``."""
    return f"emulated_{device}_" + "".join(ch for ch in port.removeprefix("/dev/") if ch.isalnum())


def prepare(emulator: FeetechBusEmulator, calibration_dir: Path, arm_id: str) -> Path:
    """Calibrate the emulated arm and write its matching calibration file; returns the file's path."""
    store_calibration(emulator)
    return write_calibration_file(calibration_dir, arm_id)
