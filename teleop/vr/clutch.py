"""The VR clutch: while grip is held, the hand's motion since the grip moves the gripper target.

Every control step takes the hand's pose (world frame, metres and ``[w, x, y, z]``), whether the clutch (grip) is
held, and the trigger. On engaging (grip pressed, the first frame, the hand's tracking coming back, a recenter) the
end-effector controller latches the joint targets commanded now and the hand's pose is noted: that step moves
nothing. While engaged, the hand's translation since then, times ``motion_scale``, and its turn (best effort: the
arm has 5 body joints) move the latched gripper pose through the controller's step-bounded IK. Released, the arm
holds; moving the hand then and engaging again starts from where the arm is, so no joint ever moves by more than
the controller's ``max_joint_step_deg`` in one step. The trigger closes the gripper (released: open), moving at
most ``gripper_speed`` per second, and only while engaged.

``motion_scale`` default (0.5): the arm's reach, measured on the workbench's model (FK over 200,000 random joint
poses with the gripper within 8 cm of the table top), is at most 0.48 m from the base (0.44 m for 95 % of poses),
and the task's bricks and bowls lie within about 0.35 m of it. A comfortable hand sweep is about 0.7 m (what users
of LeRobot's XR teleoperation reported before they added a 0.5 scale; not measured here, there is no person in
the test loop). At 0.5 one sweep covers the workspace without re-clutching and stays within reach, and fine moves
stay fine (1 cm of hand is 5 mm of gripper).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from so101.errors import ConfigError
from so101.kinematics.ee_controller import EndEffectorController
from so101.kinematics.pose import Pose, quat_conjugate, quat_multiply, quat_rotate
from so101.kinematics.units import GRIPPER_INDEX


@dataclass
class ClutchConfig:
    """How the hand's motion maps onto the gripper."""

    motion_scale: float = 0.5
    """Gripper translation per metre of hand translation while the clutch is held."""
    follow_orientation: bool = True
    """Turn the gripper with the hand (best effort for the 5-joint arm); false keeps the gripper's orientation."""
    gripper_speed: float = 200.0
    """Fastest gripper opening change (dataset units per second; 100 is fully open)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.motion_scale <= 4.0:
            raise ConfigError("vr.motion_scale", self.motion_scale, "must be within (0, 4]")
        if self.gripper_speed <= 0:
            raise ConfigError("vr.gripper_speed", self.gripper_speed, "must be positive")


@dataclass(frozen=True)
class ClutchStep:
    """Outcome of one control step of the clutch."""

    targets: np.ndarray
    """(6,) joint targets to command now (dataset units)."""
    engaged: bool
    """The clutch is held and the hand tracked: the arm follows the hand."""
    reachable: bool = True
    """False when the hand asks for a pose the arm cannot reach: the arm holds at the last good targets."""


class Clutch:
    """Hand poses and the clutch button -> joint targets through an ``EndEffectorController``.

    Args:
        controller: the end-effector controller (its step bound is the largest joint change per step).
        config: scale, orientation following, gripper speed.
        base_from_world: the arm base's pose inverse (maps world coordinates to the base frame in which the
            controller works); identity when the base sits at the world origin unrotated.
        control_dt: seconds per control step (bounds the gripper's change per step).
    """

    def __init__(
        self,
        controller: EndEffectorController,
        config: ClutchConfig | None = None,
        base_from_world: Pose | None = None,
        control_dt: float = 1.0 / 30.0,
    ) -> None:
        self.controller = controller
        self.config = config or ClutchConfig()
        self._to_base = np.array([1.0, 0.0, 0.0, 0.0]) if base_from_world is None else base_from_world.quat
        self.control_dt = control_dt
        self._hand_at_engage: Pose | None = None
        self._targets: np.ndarray | None = None

    @property
    def engaged(self) -> bool:
        return self._hand_at_engage is not None

    def release(self) -> None:
        """Disengage (the next step with the clutch held engages afresh from the targets commanded then)."""
        self._hand_at_engage = None

    def step(self, commanded: np.ndarray, hand: Pose | None, held: bool, trigger: float) -> ClutchStep:
        """One control step.

        Args:
            commanded: (6,) the joint targets commanded now (dataset units): the reference when engaging.
            hand: the controlling hand's grip pose in the world, None while it is not tracked.
            held: the clutch (grip) is held.
            trigger: trigger travel 0 (released: gripper open) .. 1 (pulled: closed).
        """
        if self._targets is None or not self.engaged:
            self._targets = np.array(commanded, dtype=np.float64)
        if not held or hand is None:
            self.release()
            return ClutchStep(self._targets.copy(), engaged=False)
        if not self.engaged:
            self.controller.latch(self._targets)
            self._hand_at_engage = hand
            return ClutchStep(self._targets.copy(), engaged=True)
        cfg, start = self.config, self._hand_at_engage
        assert start is not None
        to_base = self._to_base
        translation = quat_rotate(to_base, cfg.motion_scale * (np.asarray(hand.position) - start.position))
        rotation = None
        if cfg.follow_orientation:
            turn = quat_multiply(hand.quat, quat_conjugate(start.quat))  # world frame
            rotation = quat_multiply(quat_multiply(to_base, turn), quat_conjugate(to_base))
        current = self._targets[GRIPPER_INDEX]
        wanted = 100.0 * (1.0 - float(np.clip(trigger, 0.0, 1.0)))
        limit = cfg.gripper_speed * self.control_dt
        gripper = current + float(np.clip(wanted - current, -limit, limit))
        result = self.controller.move(translation=translation, rotation=rotation, gripper=gripper)
        self._targets = result.targets
        return ClutchStep(result.targets.copy(), engaged=True, reachable=result.ok)
