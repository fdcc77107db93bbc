"""Forward kinematics of the SO-101 gripper frame, and the quaternion helpers that go with it.

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

from kinematics.units import JOINT_NAMES

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
        self._site_quat = np.empty(4)

    def pose(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """End-effector pose for one joint vector.

        Args:
            q: (6,) joint angles in radians, LeRobot order (the gripper does not move the site).

        Returns:
            ``(position, quaternion)``: (3,) metres and (4,) ``[w, x, y, z]`` with ``w >= 0``, in the base frame.
        """
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (6,):
            raise ValueError(f"a joint vector needs shape (6,) in the order {JOINT_NAMES}, got {q.shape}")
        self.data.qpos[self.index.qpos_adr] = q
        mujoco.mj_kinematics(self.model, self.data)
        pos, quat = self._site_pose_in_base()
        return pos, canonical_quat(quat)

    def batch(self, qs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """End-effector poses along a trajectory.

        Args:
            qs: (T, 6) joint angles in radians.

        Returns:
            ``(positions, quaternions)``: (T, 3) metres and (T, 4) ``[w, x, y, z]`` in the base frame; the first
            quaternion has ``w >= 0`` and every later one the sign closest to its predecessor, so that the
            sequence is continuous (no jump from q to -q that a policy would have to learn).
        """
        qs = np.asarray(qs, dtype=np.float64)
        if qs.ndim != 2 or qs.shape[1] != 6:
            raise ValueError(f"a joint trajectory needs shape (T, 6), got {qs.shape}")
        positions = np.empty((len(qs), 3))
        quats = np.empty((len(qs), 4))
        for t, q in enumerate(qs):
            self.data.qpos[self.index.qpos_adr] = q
            mujoco.mj_kinematics(self.model, self.data)
            positions[t], quats[t] = self._site_pose_in_base()
        return positions, make_quat_continuous(quats)

    def _site_pose_in_base(self) -> tuple[np.ndarray, np.ndarray]:
        """Site pose in the base frame, read from ``self.data`` after ``mj_kinematics``."""
        data, index = self.data, self.index
        base_rot = data.xmat[index.base_body_id].reshape(3, 3)
        pos = base_rot.T @ (data.site_xpos[index.site_id] - data.xpos[index.base_body_id])
        mujoco.mju_mat2Quat(self._site_quat, data.site_xmat[index.site_id])
        quat = quat_multiply(quat_conjugate(data.xquat[index.base_body_id]), self._site_quat)
        return pos, quat / np.linalg.norm(quat)


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of ``[w, x, y, z]`` quaternions, broadcasting over leading axes."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    """Conjugate (the inverse, for unit quaternions) of ``[w, x, y, z]`` quaternions."""
    q = np.asarray(q, dtype=np.float64)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle (rad, 0..pi) between orientations ``a`` and ``b``; ``q`` and ``-q`` count as equal."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    relative = quat_multiply(quat_conjugate(a), b)
    # atan2 of the vector and scalar parts stays accurate for tiny angles, where arccos(|w|) does not.
    return 2.0 * np.arctan2(np.linalg.norm(relative[..., 1:], axis=-1), np.abs(relative[..., 0]))


def canonical_quat(q: np.ndarray) -> np.ndarray:
    """The sign of each ``[w, x, y, z]`` quaternion with ``w >= 0`` (the same rotation)."""
    q = np.asarray(q, dtype=np.float64)
    return np.where(q[..., :1] < 0.0, -q, q)


def make_quat_continuous(quats: np.ndarray) -> np.ndarray:
    """Flip signs along a (T, 4) sequence so consecutive quaternions have a non-negative dot product.

    The first quaternion is made canonical (``w >= 0``); the rotations are unchanged.
    """
    quats = np.array(quats, dtype=np.float64)
    if quats.ndim != 2 or quats.shape[1] != 4:
        raise ValueError(f"a quaternion sequence needs shape (T, 4), got {quats.shape}")
    if len(quats) == 0:
        return quats
    quats[0] = canonical_quat(quats[0])
    # A flip at step t flips every later sign too, hence the cumulative product of the per-step signs.
    dots = np.einsum("ij,ij->i", quats[1:], quats[:-1])
    signs = np.cumprod(np.where(dots < 0.0, -1.0, 1.0))
    quats[1:] *= signs[:, None]
    return quats
