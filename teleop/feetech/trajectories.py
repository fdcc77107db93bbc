"""Scripted motions of a hand on an SO-101 arm, for the bus emulator (``so101 emulate``, ``so101 bench leader``).

Every motion is a function of time (s) returning a (6,) pose in LeRobot's SO-101 units (``servo.SO101_UNITS``:
degrees for the body joints, zero at the middle of the calibrated range; gripper 0..100), in LeRobot's joint
order. Poses stay inside the simulated arm's joint limits and the emulated arm's calibrated ranges.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

Motion = Callable[[float], np.ndarray]
"""Time since the start (s) -> (6,) pose: degrees for the body joints, gripper 0..100."""

MotionName = Literal["wave", "sweep", "still"]
"""``wave``: every joint on its own slow sine at once, like a hand moving the whole arm; ``sweep``: one joint
after the other through a wide swing; ``still``: the middle pose (every body joint at 0 deg, gripper half open)."""

MIDDLE = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 50.0])
"""The middle of every joint's range: body joints 0 deg, gripper half open (50)."""

WAVE_AMPLITUDE = np.array([60.0, 45.0, 45.0, 50.0, 90.0, 40.0])
WAVE_FREQUENCY_HZ = np.array([0.23, 0.31, 0.37, 0.41, 0.29, 0.5])
SWEEP_AMPLITUDE = np.array([90.0, 80.0, 80.0, 80.0, 120.0, 45.0])
SWEEP_JOINT_S = 4.0
"""Seconds each joint takes to swing out one way, the other way and back in ``sweep``."""


def wave(t: float) -> np.ndarray:
    """Every joint on its own slow sine about the middle pose (periods 2 to 4.3 s)."""
    return MIDDLE + WAVE_AMPLITUDE * np.sin(2 * np.pi * WAVE_FREQUENCY_HZ * t)


def sweep(t: float) -> np.ndarray:
    """One joint at a time, shoulder_pan first and the gripper last, through ``SWEEP_AMPLITUDE`` and back."""
    joint = int(t // SWEEP_JOINT_S) % len(MIDDLE)
    pose = MIDDLE.copy()
    pose[joint] += SWEEP_AMPLITUDE[joint] * np.sin(2 * np.pi * (t % SWEEP_JOINT_S) / SWEEP_JOINT_S)
    return pose


def still(_t: float) -> np.ndarray:
    """The middle pose, held."""
    return MIDDLE.copy()


MOTIONS: dict[str, Motion] = {"wave": wave, "sweep": sweep, "still": still}
"""Every ``MotionName`` with its motion."""


def scripted_motion(name: MotionName, speed: float = 1.0) -> Motion:
    """The motion ``name`` played ``speed`` times as fast (2.0: twice as fast, 0.5: half as fast)."""
    if speed <= 0:
        raise ValueError(f"the speed of a motion must be positive, got {speed}")
    motion = MOTIONS[name]
    return lambda t: motion(speed * t)
