"""Forward kinematics of the SO-101 gripper frame.

Poses are those of the ``gripperframe`` site expressed in the frame of the arm's root body ``base``:
position in metres, orientation as a unit quaternion ``[w, x, y, z]`` that maps gripper-frame
coordinates to base-frame coordinates (MuJoCo's convention).

Any MuJoCo model that contains an SO-101 with LeRobot's joint names works, including a full scene with
free bodies: the arm's joints are found by name and addressed through ``jnt_qposadr``/``jnt_dofadr``.
Each ``ForwardKinematics`` owns its ``MjData``, so it never disturbs a running simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from so101.kinematics.pose import Pose, make_quat_continuous, matrix_to_quat
from so101.kinematics.units import JOINT_NAMES

SITE_NAME = "gripperframe"
"""The end-effector site: between the jaws, where the gripper closes."""

BASE_BODY_NAME = "base"
"""The arm's root body; end-effector poses are expressed in its frame."""


@dataclass(frozen=True)
class ArmIndex:
    """Where the arm lives inside a (possibly larger) MuJoCo model.

    Attributes:
        qpos_adr: (6,) ``qpos`` addresses of the joints in ``JOINT_NAMES`` order.
        dof_adr: (6,) ``qvel``/Jacobian-column addresses of the same joints.
        site_id: id of the end-effector site.
        base_body_id: id of the arm's root body.
    """

    qpos_adr: np.ndarray
    dof_adr: np.ndarray
    site_id: int
    base_body_id: int

    @classmethod
    def from_model(cls, model: mujoco.MjModel, site: str = SITE_NAME, base_body: str = BASE_BODY_NAME) -> ArmIndex:
        """Look the arm's joints, end-effector site and base body up by name; raise ``ValueError`` if absent."""
        qpos_adr, dof_adr = np.empty(6, dtype=np.intp), np.empty(6, dtype=np.intp)
        for i, name in enumerate(JOINT_NAMES):
            joint_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
            if joint_id < 0:
                raise ValueError(f"the model has no joint named {name!r}; an SO-101 model needs {JOINT_NAMES}")
            if model.jnt_type[joint_id] != mujoco.mjtJoint.mjJNT_HINGE:
                raise ValueError(f"joint {name!r} must be a hinge")
            qpos_adr[i] = model.jnt_qposadr[joint_id]
            dof_adr[i] = model.jnt_dofadr[joint_id]
        site_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
        if site_id < 0:
            raise ValueError(f"the model has no site named {site!r} (the SO-101 end-effector frame)")
        base_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, base_body)
        if base_id < 0:
            raise ValueError(f"the model has no body named {base_body!r} (the SO-101 root body)")
        return cls(qpos_adr, dof_adr, site_id, base_id)


class ForwardKinematics:
    """Pose of the end-effector site in the base frame, for one joint vector or a whole episode."""

    def __init__(self, model: mujoco.MjModel, site: str = SITE_NAME, base_body: str = BASE_BODY_NAME) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        self.index = ArmIndex.from_model(model, site, base_body)
        # The base does not move with the arm's joints: its world pose is read once.
        mujoco.mj_kinematics(model, self.data)
        base = self.index.base_body_id
        self._world_to_base = Pose(self.data.xpos[base].copy(), self.data.xquat[base].copy()).inverse()

    def pose(self, q: np.ndarray) -> Pose:
        """End-effector pose for one joint vector.

        Args:
            q: (6,) joint angles in radians, LeRobot order (the gripper does not move the site).

        Returns:
            ``Pose(position, quat)``: (3,) metres and (4,) ``[w, x, y, z]`` with ``w >= 0``, in the base frame.
        """
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (6,):
            raise ValueError(f"a joint vector needs shape (6,) in the order {JOINT_NAMES}, got {q.shape}")
        pose = self.batch(q[None])
        return Pose(pose.position[0], pose.quat[0])

    def batch(self, qs: np.ndarray) -> Pose:
        """End-effector poses along a trajectory.

        Args:
            qs: (T, 6) joint angles in radians.

        Returns:
            ``Pose(positions, quats)``: (T, 3) metres and (T, 4) ``[w, x, y, z]`` in the base frame; the first
            quaternion has ``w >= 0`` and every later one the sign closest to its predecessor, so that the
            sequence is continuous (no jump from q to -q that a policy would have to learn).
        """
        qs = np.asarray(qs, dtype=np.float64)
        if qs.ndim != 2 or qs.shape[1] != 6:
            raise ValueError(f"a joint trajectory needs shape (T, 6), got {qs.shape}")
        data, index = self.data, self.index
        site_pos, site_mat = np.empty((len(qs), 3)), np.empty((len(qs), 3, 3))
        for t, q in enumerate(qs):
            data.qpos[index.qpos_adr] = q
            mujoco.mj_kinematics(self.model, data)
            site_pos[t] = data.site_xpos[index.site_id]
            site_mat[t] = data.site_xmat[index.site_id].reshape(3, 3)
        in_base = self._world_to_base.compose(Pose(site_pos, matrix_to_quat(site_mat)))
        return Pose(in_base.position, make_quat_continuous(in_base.quat))
