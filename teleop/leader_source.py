"""The physical leader arm as an action source: ``--teleop leader`` of ``so101 teleop`` and ``so101 record``.

Each control step reads the six servos once through LeRobot's ``so101_leader`` (``teleop.leader.LeaderArm``),
converts the reading to simulator radians with ``kinematics.units`` (which also maps the older -100..100 body
normalisation), clamps it to the simulated arm's joint limits and returns it in dataset units (degrees; gripper
0..100), the units ``So101Sim.step`` takes and datasets record.

A leader that goes away mid-episode raises ``LeaderDisconnected`` from ``next_action``; the episode loop
discards the episode in progress.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from kinematics.units import JOINT_NAMES, radians_to_dataset
from teleop.action_source import ActionSource
from teleop.leader import LeaderArm, LeaderConfig, LeaderError, LeaderStats

if TYPE_CHECKING:
    from sim.simulator import So101Sim


class LeaderSource(ActionSource):
    """Joint targets from a physical SO-100/SO-101 leader arm, read once per control step.

    The arm is connected on construction, so that a wrong port or a missing calibration is reported before
    anything is recorded.

    Raises:
        LeaderPortError, LeaderCalibrationError: from the constructor; the message names the fix.
        ValueError: the overrides file (``config.overrides_path``) is malformed.
    """

    name: ClassVar[str] = "leader"
    realtime: ClassVar[bool] = True

    def __init__(self, config: LeaderConfig) -> None:
        self.arm = LeaderArm(config)
        self.arm.connect()

    @property
    def stats(self) -> LeaderStats:
        return self.arm.stats

    @property
    def last_reading(self) -> np.ndarray:
        """The reading behind the latest target: (6,) LeRobot's units (``config.norm_mode``), overrides applied.

        Raises:
            LeaderError: nothing has been read yet.
        """
        reading = self.arm.last_reading
        if reading is None:
            raise LeaderError("the leader has not been read yet; call next_action first")
        return reading

    def next_action(self, sim: So101Sim) -> np.ndarray:
        """Read the leader: (6,) joint targets in dataset units, within the sim's joint limits.

        Raises:
            LeaderDisconnected: the arm stopped answering (cable pulled, power lost).
        """
        limits = sim.scene.limits
        return radians_to_dataset(self.arm.read_radians(limits), limits)

    def close(self) -> None:
        self.arm.disconnect()

    def report(self) -> str:
        """One line on the bus's health this session: reads, retries, stale readings, clamped joints."""
        stats = self.arm.stats
        line = f"leader arm: {stats.reads} reads, {stats.retries} retried, {stats.stale_reads} stale"
        clamped = [f"{name} {count}" for name, count in zip(JOINT_NAMES, stats.clamped, strict=True) if count]
        if clamped:
            line += f"; clamped to the joint limits: {', '.join(clamped)}"
        return line
