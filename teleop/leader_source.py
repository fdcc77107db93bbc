"""The physical leader arm as an action source: ``--teleop leader`` of ``so101 teleop`` and ``so101 record``.

Each control step reads the six servos once through LeRobot's ``so101_leader`` (``so101.teleop.leader.LeaderArm``) and
returns the reading, overrides applied, as the joint targets in dataset units (degrees; gripper 0..100): the units
``So101Sim.step`` takes, converts to radians and clamps to the joint limits, and that datasets record. A leader
read in the older -100..100 body normalisation is mapped to degrees through the sim's joint ranges.

Readings beyond the sim's joint limits are counted per joint (``report``); the first one of a joint that is more
than ``FAR_OUT_OF_RANGE`` beyond is logged as a warning, since calibration or overrides are then likely off.

A leader that goes away mid-episode raises ``LeaderDisconnected`` from ``next_action``; the episode loop discards
the episode in progress.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from so101.kinematics.units import JOINT_NAMES, JointLimits, dataset_to_radians, radians_to_dataset
from so101.teleop.action_source import ActionSource
from so101.teleop.leader import LeaderArm, LeaderConfig, LeaderStats, calibrate_command

if TYPE_CHECKING:
    from so101.sim.simulator import So101Sim

logger = logging.getLogger(__name__)

FAR_OUT_OF_RANGE = 5.0
"""Readings this far beyond a joint limit (dataset units: degrees, gripper percent) are reported."""


class LeaderSource(ActionSource):
    """Joint targets from a physical SO-100/SO-101 leader arm, read once per control step.

    The arm is connected on construction, so that a wrong port or a missing calibration is reported before
    anything is recorded.

    Raises:
        PortError, CalibrationError: from the constructor (``so101.teleop.feetech``); the message names the fix.
        ValueError: the overrides file (``config.overrides_path``) is malformed.
    """

    name: ClassVar[str] = "leader"
    realtime: ClassVar[bool] = True

    def __init__(self, config: LeaderConfig) -> None:
        self.arm = LeaderArm(config)
        self.arm.connect()
        self.beyond_limits = np.zeros(6, dtype=np.int64)
        """Per joint, the targets beyond the sim's joint limits (the sim clamps them)."""
        self._warned = np.zeros(6, dtype=bool)
        self._limits: JointLimits | None = None
        self._bounds = (np.zeros(6), np.zeros(6))

    @property
    def stats(self) -> LeaderStats:
        return self.arm.stats

    @property
    def last_reading(self) -> np.ndarray:
        """The reading behind the latest target: (6,) LeRobot's units (``config.norm_mode``), overrides applied.

        Raises:
            RuntimeError: nothing has been read yet.
        """
        reading = self.arm.last_reading
        if reading is None:
            raise RuntimeError("the leader has not been read yet; call next_action first")
        return reading

    def next_action(self, sim: So101Sim) -> np.ndarray:
        """Read the leader: (6,) joint targets in dataset units, overrides applied, not clamped.

        Raises:
            LeaderDisconnected: the arm stopped answering (cable pulled, power lost).
        """
        limits = sim.scene.limits
        target = self.arm.read()
        if self.arm.config.norm_mode == "range_m100_100":
            target = radians_to_dataset(dataset_to_radians(target, limits, "range_m100_100"), limits)
        self._watch_limits(target, limits)
        return target

    def close(self) -> None:
        self.arm.disconnect()

    def report(self) -> str:
        """One line on the bus's health this session: reads, retries, stale readings, clamped joints."""
        stats = self.arm.stats
        line = f"leader arm: {stats.reads} reads, {stats.retries} retried, {stats.stale_reads} stale"
        clamped = [f"{name} {count}" for name, count in zip(JOINT_NAMES, self.beyond_limits, strict=True) if count]
        if clamped:
            line += f"; clamped to the joint limits: {', '.join(clamped)}"
        return line

    def _watch_limits(self, target: np.ndarray, limits: JointLimits) -> None:
        """Count the joints of ``target`` beyond the limits; warn once per joint far beyond them."""
        if limits is not self._limits:  # the sim's limits, in dataset units, once per model
            self._limits = limits
            self._bounds = (radians_to_dataset(limits.lower, limits), radians_to_dataset(limits.upper, limits))
        lower, upper = self._bounds
        self.beyond_limits += (target < lower) | (target > upper)
        far = (target < lower - FAR_OUT_OF_RANGE) | (target > upper + FAR_OUT_OF_RANGE)
        for index in np.flatnonzero(far & ~self._warned):
            self._warned[index] = True
            logger.warning(
                "leader arm: %s reads %.1f, beyond the sim's joint limits %.1f .. %.1f (degrees; gripper 0..100); "
                "the sim clamps it. Check the calibration (%s) or the overrides (--leader.overrides_path).",
                JOINT_NAMES[index],
                target[index],
                lower[index],
                upper[index],
                calibrate_command(self.arm.config),
            )
