"""Between the arm's joints and a policy's spaces: what an end-effector policy observes and how its actions move
the arm, the same in sim evaluation and deployment.

A checkpoint's ``SimRequirements`` say whether the policy's ``observation.state`` and ``action`` are joints or an
end-effector pose (``so101.policies.checkpoint``). ``PolicySpaces`` turns the joint positions into the state the policy
takes (the TCP pose through the FK, continuous along the episode as in the converted dataset) and the policy's
actions into joint targets (through ``so101.kinematics.ee_action.EEActionAdapter``: the end-effector controller with its
step bound), counting the steps the IK could not reach. Joint spaces pass through unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import mujoco

    from so101.policies.checkpoint import SimRequirements


class PolicySpaces:
    """Joint positions -> the policy's state; the policy's actions -> joint targets (dataset units both ends)."""

    def __init__(self, model: mujoco.MjModel, requirements: SimRequirements) -> None:
        from so101.kinematics.ee_action import EEActionAdapter
        from so101.kinematics.ee_convert import JointsToEE

        layout = requirements.ee_layout
        ee_action, ee_state = requirements.action_space == "ee", requirements.state_space == "ee"
        if (ee_action or ee_state) and layout is None:
            raise ValueError("an end-effector policy needs its ee_layout (rotation encoding and TCP) in so101.json")
        self._adapter = EEActionAdapter(model, layout) if ee_action else None
        self._fk = JointsToEE(model, layout) if ee_state and layout is not None else None
        self._previous_state: np.ndarray | None = None
        self.ik_steps = 0
        """End-effector actions turned into joint targets since the last ``reset``."""
        self.ik_failures = 0
        """Of those, the steps whose pose the IK could not reach (the arm held its targets)."""

    @property
    def end_effector(self) -> bool:
        return self._adapter is not None or self._fk is not None

    def reset(self, commanded_targets: np.ndarray) -> None:
        """Start an episode from the joint targets commanded now (6,) (dataset units)."""
        if self._adapter is not None:
            self._adapter.reset(commanded_targets)
        self._previous_state = None
        self.ik_steps = self.ik_failures = 0

    def state(self, joints: np.ndarray) -> np.ndarray:
        """The policy's ``observation.state`` for joint positions (6,) (dataset units)."""
        if self._fk is None:
            return joints
        pose = self._fk.fk.batch(self._fk.radians(np.asarray(joints, dtype=np.float64)[None]))
        self._previous_state = self._fk.layout.encode_next(
            pose.position[0], pose.quat[0], float(joints[-1]), self._previous_state
        )
        return self._previous_state

    def joint_targets(self, action: np.ndarray) -> np.ndarray:
        """Joint targets (6,) (dataset units) for the policy's action."""
        if self._adapter is None:
            return action
        result = self._adapter.to_joint_targets(action)
        self.ik_steps += 1
        self.ik_failures += not result.ok
        return result.targets
