"""End-effector actions -> joint targets: what an EE-space policy's output becomes, in the sim and on the real arm.

An EE action is one feature vector of an ``EELayout`` (absolute TCP pose in the robot base frame, metres, plus the
gripper in dataset units). ``EEActionAdapter`` decodes it and drives
``so101.kinematics.ee_controller.EndEffectorController`` towards it, so the step bound, joint limits and failure
reporting are the controller's::

    adapter = EEActionAdapter(model, EELayout("rotvec"))
    adapter.reset(joint_targets_now)                           # episode start: latch the arm where it is
    result = adapter.to_joint_targets(action)                  # each control step
    robot.send_action(result.targets)                          # (6,) degrees, gripper 0..100
    adapter.failure_rate                                       # share of steps the IK could not reach

A TCP other than ``gripperframe`` works when it is a site on the same body (a fixed offset from it): the target is
moved onto ``gripperframe`` before the controller sees it.
"""

from __future__ import annotations

import mujoco
import numpy as np

from so101.kinematics.ee_controller import EEControllerConfig, EEResult, EndEffectorController
from so101.kinematics.ee_features import EELayout
from so101.kinematics.fk import SITE_NAME
from so101.kinematics.pose import Pose, quat_normalize


class EEActionAdapter:
    """EE action vectors -> bounded joint targets through the one end-effector controller.

    Args:
        model: a MuJoCo model containing an SO-101 (the arm alone or a scene); its data is never touched.
        layout: the feature layout of the actions (rotation encoding, TCP site).
        config: the controller's step bound and tolerance (``max_joint_step_deg`` per call).
    """

    def __init__(
        self, model: mujoco.MjModel, layout: EELayout | None = None, config: EEControllerConfig | None = None
    ) -> None:
        self.layout = layout or EELayout()
        self.controller = EndEffectorController(model, config)
        self._tcp_to_site = tcp_offset(model, self.layout.tcp)
        self.steps = 0
        """Calls of ``to_joint_targets`` since construction."""

    @property
    def failures(self) -> int:
        """Steps whose target the IK could not reach (the arm held its last good targets)."""
        return self.controller.failures

    @property
    def failure_rate(self) -> float:
        """``failures / steps`` (0 before the first step)."""
        return self.failures / self.steps if self.steps else 0.0

    def reset(self, joint_targets: np.ndarray) -> None:
        """Latch the joint targets commanded now (6,) (dataset units) at the start of an episode."""
        self.controller.latch(joint_targets)

    def to_joint_targets(self, action: np.ndarray, current_joint_targets: np.ndarray | None = None) -> EEResult:
        """Joint targets one step towards the pose of ``action`` (``layout.dim`` values).

        ``current_joint_targets`` (6,) (dataset units), when given, are latched first: the caller's own record of
        what is commanded (e.g. a real arm whose targets something else also moved); None continues from this
        adapter's last targets (``reset`` must have been called).
        """
        if current_joint_targets is not None:
            self.controller.latch(current_joint_targets)
        position, quat, gripper = self.layout.decode(np.asarray(action, dtype=np.float64))
        if self._tcp_to_site is not None:
            position, quat = Pose(position, quat).compose(self._tcp_to_site)
        self.steps += 1
        return self.controller.move_to(position, quat, float(gripper))


def tcp_offset(model: mujoco.MjModel, tcp: str) -> Pose | None:
    """The pose of ``gripperframe`` in the frame of site ``tcp`` (None when ``tcp`` is ``gripperframe``).

    Raises:
        ValueError: the model has no such site, or it is not on ``gripperframe``'s body (its offset would then
            change with the joints, and the controller's IK solves for ``gripperframe``).
    """
    if tcp == SITE_NAME:
        return None
    ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, name) for name in (tcp, SITE_NAME)]
    if ids[0] < 0:
        raise ValueError(f"the robot model has no site named {tcp!r}; give --tcp a site of the model")
    if model.site_bodyid[ids[0]] != model.site_bodyid[ids[1]]:
        raise ValueError(
            f"site {tcp!r} is not on the body of {SITE_NAME!r}: end-effector control needs a TCP rigidly "
            f"attached to the gripper frame; convert with --tcp {SITE_NAME}"
        )
    tcp_in_body, site_in_body = (Pose(model.site_pos[i].copy(), quat_normalize(model.site_quat[i])) for i in ids)
    return tcp_in_body.inverse().compose(site_in_body)
