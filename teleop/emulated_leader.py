"""A calibrated SO-101 leader arm on the Feetech bus emulator, for benchmarks and tests without hardware.

LeRobot reads a leader only when the calibration in its file matches the one stored in the servos
(homing offsets and position limits). ``prepare`` puts the same example calibration in both places, as
``so101 calibrate-leader`` would have left them on a real arm.
"""

from __future__ import annotations

import json
from pathlib import Path

from kinematics.units import JOINT_NAMES
from teleop.feetech_emulator import FeetechBusEmulator

EXAMPLE_CALIBRATION: dict[str, tuple[int, int, int]] = {
    "shoulder_pan": (120, 900, 3200),
    "shoulder_lift": (-250, 800, 3300),
    "elbow_flex": (40, 850, 3100),
    "wrist_flex": (-7, 870, 3150),
    "wrist_roll": (300, 0, 4095),
    "gripper": (-500, 2000, 3400),
}
"""Per joint: (homing offset, range min, range max) in ticks, as LeRobot's calibration of a real arm gives."""


def write_calibration_file(directory: Path, arm_id: str) -> Path:
    """Write ``EXAMPLE_CALIBRATION`` as LeRobot's ``<directory>/<arm_id>.json``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{arm_id}.json"
    entries = {
        name: {"id": index + 1, "drive_mode": 0, "homing_offset": offset, "range_min": low, "range_max": high}
        for index, (name, (offset, low, high)) in enumerate(EXAMPLE_CALIBRATION.items())
    }
    path.write_text(json.dumps(entries, indent=4))
    return path


def store_calibration(emulator: FeetechBusEmulator) -> None:
    """Write ``EXAMPLE_CALIBRATION`` into the emulated servos' registers (ids 1..6 in ``JOINT_NAMES`` order)."""
    for servo_id, name in enumerate(JOINT_NAMES, start=1):
        offset, low, high = EXAMPLE_CALIBRATION[name]
        emulator.set_register(servo_id, "Homing_Offset", offset)
        emulator.set_register(servo_id, "Min_Position_Limit", low)
        emulator.set_register(servo_id, "Max_Position_Limit", high)


def prepare(emulator: FeetechBusEmulator, calibration_dir: Path, arm_id: str) -> Path:
    """Calibrate the emulated arm and write its matching calibration file; returns the file's path."""
    store_calibration(emulator)
    return write_calibration_file(calibration_dir, arm_id)
