"""An emulated SO-101 follower for trying deployment without hardware: the rig behind ``so101 emulate follower``.

Six emulated STS3215 servos on a pseudo-terminal (``emulator``), calibrated as ``emulated_arm`` leaves an arm and
with the matching file in LeRobot's place for followers, that move toward their goal positions at servo speed
while torque is on; their positions are published to a pose feed (``so101.sim.pose_feed``) that the simulated LeRobot
cameras (``--robot.cameras`` of type ``so101_sim``, ``so101.sim.lerobot_camera``) render the arm from. LeRobot's own
``SO101Follower`` and camera code then run unmodified against it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from so101.sim.pose_feed import PoseFeedWriter
from so101.teleop.feetech.emulated_arm import instance_id, prepare
from so101.teleop.feetech.emulator import FeetechBusEmulator


class FollowerRig:
    """The emulated follower, serving from ``start()`` until ``close()``.

    Args:
        calibration_dir: folder of the follower's calibration file (``<id>.json`` is written there).
        arm_id: the follower's id (``--robot.id``); None: one of its own, from its pseudo-terminal
            (``emulated_arm.instance_id``).
        pose_feed: the file the servo positions are published to, for the simulated cameras; None:
            ``so101_<id>.pose`` in the temporary folder.
        pose: where the arm rests at the start, LeRobot's SO-101 units (degrees, gripper 0..100).
    """

    def __init__(
        self, calibration_dir: Path, arm_id: str | None, pose_feed: Path | None, pose: Sequence[float]
    ) -> None:
        self.emulator = FeetechBusEmulator()
        self.arm_id = arm_id or instance_id("follower", self.emulator.port)
        self.calibration_path = prepare(self.emulator, Path(calibration_dir), self.arm_id)
        self.place(pose)
        self.pose_feed = Path(pose_feed or Path(tempfile.gettempdir()) / f"so101_{self.arm_id}.pose")
        self._writer = PoseFeedWriter(self.pose_feed, self.emulator.positions)

    @property
    def port(self) -> str:
        return self.emulator.port

    def place(self, pose: Sequence[float]) -> None:
        """Put the arm at ``pose`` by hand (LeRobot's SO-101 units), as a person positions it before a run."""
        self.emulator.place(pose)

    def positions(self) -> np.ndarray:
        """The joints now, (6,) LeRobot's SO-101 units."""
        return self.emulator.positions()

    def torque_enabled(self) -> list[bool]:
        """Whether each servo holds torque, in joint order."""
        return [bool(self.emulator.register(servo_id, "Torque_Enable")) for servo_id in self.emulator.ids]

    def start(self) -> FollowerRig:
        self.emulator.start()
        self._writer.start()
        return self

    def close(self) -> None:
        self._writer.close()
        self.emulator.close()

    def __enter__(self) -> FollowerRig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
