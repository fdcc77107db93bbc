"""Forward kinematics of whole episodes at once: the kinematic chain from the model, evaluated with numpy.

``ForwardKinematics.batch`` calls MuJoCo's ``mj_kinematics`` once per frame, which costs a few microseconds of
interpreter overhead per frame on top of MuJoCo's own work; a dataset conversion needs hundreds of thousands of
frames. ``ChainFK`` reads the chain from the arm's ``base`` body to the TCP site out of the compiled model (body
offsets, hinge axes and anchors, the site's offset) and composes it for all frames together: the same poses as
MuJoCo (to rounding; the tests compare them), at a fraction of the cost per frame.

Frames and units as in ``so101.kinematics.fk``: joints (T, 6) radians in LeRobot order; poses of the site in the
frame of the ``base`` body, metres and ``[w, x, y, z]`` quaternions, signs continuous along the sequence.
"""

from __future__ import annotations

import mujoco
import numpy as np

from so101.kinematics.fk import BASE_BODY_NAME, SITE_NAME, ArmIndex
from so101.kinematics.pose import Pose, make_quat_continuous, matrix_to_quat, quat_to_matrix


class ChainFK:
    """Vectorised forward kinematics of one site of an SO-101 (in the arm model or a whole scene)."""

    def __init__(self, model: mujoco.MjModel, site: str = SITE_NAME, base_body: str = BASE_BODY_NAME) -> None:
        index = ArmIndex.from_model(model, site, base_body)
        column_of_qpos = {int(adr): column for column, adr in enumerate(index.qpos_adr)}
        bodies = []
        body = int(model.site_bodyid[index.site_id])
        while body != index.base_body_id:
            if body == 0:
                raise ValueError(f"site {site!r} does not hang below the body {base_body!r}")
            bodies.append(body)
            body = int(model.body_parentid[body])
        # From the base down: (body offset position, body offset rotation,
        # [(joint column, z-to-axis rotation, anchor, qpos0), ...]).
        self._links: list[tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray, np.ndarray, float]]]] = []
        for body in reversed(bodies):
            joints = []
            for joint in np.flatnonzero(model.jnt_bodyid == body):
                adr = int(model.jnt_qposadr[joint])
                if model.jnt_type[joint] != mujoco.mjtJoint.mjJNT_HINGE or adr not in column_of_qpos:
                    name = model.joint(joint).name
                    raise ValueError(f"joint {name!r} between the base and {site!r} is not an arm joint")
                axis = model.jnt_axis[joint] / np.linalg.norm(model.jnt_axis[joint])
                joints.append((column_of_qpos[adr], _z_to(axis), model.jnt_pos[joint].copy(), float(model.qpos0[adr])))
            self._links.append((model.body_pos[body].copy(), quat_to_matrix(model.body_quat[body]), joints))
        self._site_pos = model.site_pos[index.site_id].copy()
        self._site_rot = quat_to_matrix(model.site_quat[index.site_id])

    def matrices(self, qs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Site positions (T, 3) m and rotation matrices (T, 3, 3) in the base frame, for joints ``qs`` (T, 6) rad."""
        qs = np.asarray(qs, dtype=np.float64)
        if qs.ndim != 2 or qs.shape[1] != 6:
            raise ValueError(f"a joint trajectory needs shape (T, 6), got {qs.shape}")
        count = len(qs)
        position = np.zeros((count, 3))
        rotation = np.tile(np.eye(3), (count, 1, 1))
        for offset, offset_rot, joints in self._links:
            position += _apply(rotation, offset)
            rotation = _right_multiply(rotation, offset_rot)
            for column, to_axis, anchor, qpos0 in joints:
                # A hinge turns the body about its axis through its anchor: move to the anchor with z along the
                # axis, turn about z (two columns mix), and move back.
                position += _apply(rotation, anchor)
                rotation = _right_multiply(rotation, to_axis)
                angle = qs[:, column] - qpos0
                cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
                x_col, y_col = rotation[:, :, 0].copy(), rotation[:, :, 1].copy()
                rotation[:, :, 0] = cos * x_col + sin * y_col
                rotation[:, :, 1] = cos * y_col - sin * x_col
                rotation = _right_multiply(rotation, to_axis.T)
                position -= _apply(rotation, anchor)
        return position + _apply(rotation, self._site_pos), _right_multiply(rotation, self._site_rot)

    def batch(self, qs: np.ndarray) -> Pose:
        """Site poses along a trajectory: (T, 3) m and (T, 4) ``[w, x, y, z]``, signs continuous."""
        position, rotation = self.matrices(qs)
        return Pose(position, make_quat_continuous(matrix_to_quat(rotation)))


def _z_to(axis: np.ndarray) -> np.ndarray:
    """A rotation matrix whose third column is the unit ``axis``: it turns the z axis onto ``axis``."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x_axis = np.cross(helper, axis)
    x_axis /= np.linalg.norm(x_axis)
    return np.stack([x_axis, np.cross(axis, x_axis), axis], axis=1)


# Constant matrices and vectors act on all frames through one BLAS product on the stacked rows: numpy's stacked
# matmul of (T, 3, 3) arrays loops over tiny matrices and costs several times more.
def _right_multiply(rotation: np.ndarray, constant: np.ndarray) -> np.ndarray:
    """``rotation @ constant`` for (T, 3, 3) rotations and one (3, 3) matrix."""
    return (rotation.reshape(-1, 3) @ constant).reshape(rotation.shape)


def _apply(rotation: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``rotation @ vector`` for (T, 3, 3) rotations and one (3,) vector: (T, 3)."""
    return (rotation.reshape(-1, 3) @ vector).reshape(len(rotation), 3)
