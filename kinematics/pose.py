"""The one pose layer: quaternions, rotation vectors, rotation matrices, 6D rotations and SE(3) poses.

Conventions, the same everywhere in the workbench:

* quaternions are ``[w, x, y, z]`` (MuJoCo's order), unit length, and ``q`` and ``-q`` are the same rotation;
  a quaternion that gives a frame's orientation maps coordinates in that frame to coordinates in the parent frame;
* rotation vectors are ``angle * axis`` (rad), the angle within 0..pi;
* rotation matrices are (3, 3) with the frame's axes as columns;
* 6D rotations are the first two columns of the matrix, ``[m00, m10, m20, m01, m11, m21]`` (Zhou et al., "On the
  Continuity of Rotation Representations in Neural Networks", 2019);
* a pose is a position (m) and a quaternion, the frame's origin and orientation in its parent frame.

Every function takes arrays with any leading shape: (..., 4) quaternions, (..., 3) vectors, (..., 3, 3) matrices,
(..., 6) 6D rotations, broadcasting the leading axes, so whole episodes convert in one call. numpy only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

IDENTITY_QUAT = np.array([1.0, 0.0, 0.0, 0.0])
"""The quaternion of no rotation."""

_EPS = 1e-12


def _float(array: np.ndarray, last: int, name: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.shape[-1:] != (last,):
        raise ValueError(f"{name} need {last} values on the last axis, got an array of shape {array.shape}")
    return array


# ------------------------------------------------------------------------------------------- quaternions


def quat_normalize(q: np.ndarray) -> np.ndarray:
    """Quaternions scaled to unit length; raises ``ValueError`` for a zero or non-finite quaternion."""
    q = _float(q, 4, "quaternions")
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if not np.all(np.isfinite(norm)) or np.any(norm < _EPS):
        raise ValueError("a quaternion must be finite and non-zero")
    return q / norm


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b``: the rotation ``b`` followed by ``a`` (``b`` expressed in the frame ``a`` turns)."""
    a, b = _float(a, 4, "quaternions"), _float(b, 4, "quaternions")
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
    """Conjugate: the inverse rotation of a unit quaternion."""
    return _float(q, 4, "quaternions") * np.array([1.0, -1.0, -1.0, -1.0])


def quat_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle (rad, 0..pi) between orientations ``a`` and ``b``; ``q`` and ``-q`` count as equal."""
    relative = quat_multiply(quat_conjugate(quat_normalize(a)), quat_normalize(b))
    # atan2 of the vector and scalar parts stays accurate for tiny angles, where arccos(|w|) does not.
    return 2.0 * np.arctan2(np.linalg.norm(relative[..., 1:], axis=-1), np.abs(relative[..., 0]))


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectors ``v`` (..., 3) rotated by unit quaternions ``q`` (..., 4): frame coordinates to parent coordinates."""
    q, v = _float(q, 4, "quaternions"), _float(v, 3, "vectors")
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def canonical_quat(q: np.ndarray) -> np.ndarray:
    """The sign of each quaternion with ``w >= 0`` (the same rotation)."""
    q = _float(q, 4, "quaternions")
    return np.where(q[..., :1] < 0.0, -q, q)


def make_quat_continuous(quats: np.ndarray) -> np.ndarray:
    """Flip signs along a sequence (..., T, 4) so that consecutive quaternions have a non-negative dot product.

    The first quaternion of each sequence is made canonical (``w >= 0``); the rotations are unchanged. A policy
    that predicts quaternions then never sees the jump from ``q`` to ``-q``.
    """
    quats = np.array(_float(quats, 4, "quaternions"))
    if quats.ndim < 2:
        raise ValueError(f"a quaternion sequence needs shape (..., T, 4), got {quats.shape}")
    if quats.shape[-2] == 0:
        return quats
    quats[..., 0, :] = canonical_quat(quats[..., 0, :])
    # A flip at step t flips every later sign too, hence the cumulative product of the per-step signs.
    dots = np.sum(quats[..., 1:, :] * quats[..., :-1, :], axis=-1)
    signs = np.cumprod(np.where(dots < 0.0, -1.0, 1.0), axis=-1)
    quats[..., 1:, :] *= signs[..., None]
    return quats


def quat_slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation from ``a`` (t = 0) to ``b`` (t = 1) along the shorter arc; unit quaternions out."""
    a, b = quat_normalize(a), quat_normalize(b)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0.0, -b, b)
    dot = np.minimum(np.abs(dot), 1.0)
    theta = np.arccos(dot)
    sin_theta = np.sin(theta)
    # Nearly equal rotations: the chord is the arc to within rounding, and the sines would divide 0 by 0.
    close = sin_theta < 1e-6
    safe = np.where(close, 1.0, sin_theta)
    weight_a = np.where(close, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    weight_b = np.where(close, t, np.sin(t * theta) / safe)
    out = weight_a * a + weight_b * b
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def yaw_quat(yaw: np.ndarray | float) -> np.ndarray:
    """Quaternions of turns by ``yaw`` (rad) about +z."""
    half = 0.5 * np.asarray(yaw, dtype=np.float64)
    zero = np.zeros_like(half)
    return np.stack([np.cos(half), zero, zero, np.sin(half)], axis=-1)


# ------------------------------------------------------------------------------------------- rotation vectors


def quat_from_rotvec(rotvec: np.ndarray) -> np.ndarray:
    """Unit quaternions (``w >= 0``) of rotation vectors ``angle * axis`` (rad)."""
    rotvec = _float(rotvec, 3, "rotation vectors")
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    # sin(angle/2)/angle, written with sinc so that it tends to 1/2 at angle 0 without a division.
    scale = 0.5 * np.sinc(angle / (2.0 * np.pi))
    return canonical_quat(np.concatenate([np.cos(0.5 * angle), scale * rotvec], axis=-1))


def rotvec_from_quat(q: np.ndarray) -> np.ndarray:
    """Rotation vectors (rad, angle within 0..pi: the shorter way round) of quaternions."""
    q = canonical_quat(quat_normalize(q))
    vector = q[..., 1:]
    sin_half = np.linalg.norm(vector, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, q[..., :1])
    # angle / sin(angle/2) tends to 2 / w as the angle vanishes; w >= 1/sqrt(2) there, so no division by zero.
    scale = np.where(sin_half > 1e-8, angle / np.maximum(sin_half, 1e-300), 2.0 / q[..., :1])
    return scale * vector


# ------------------------------------------------------------------------------------------- matrices


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of quaternions (normalised here)."""
    w, x, y, z = np.moveaxis(quat_normalize(q), -1, 0)
    rows = [
        [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - w * z), 2.0 * (x * z + w * y)],
        [2.0 * (x * y + w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - w * x)],
        [2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y)],
    ]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def matrix_to_quat(matrix: np.ndarray) -> np.ndarray:
    """Unit quaternions (``w >= 0``) of rotation matrices (..., 3, 3).

    Shepperd's method: of the four ways to read the quaternion off the matrix, each element takes the one whose
    divisor is largest, which is accurate for every rotation (an arccos of the trace is not, near 0 and pi).
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrices need shape (..., 3, 3), got {m.shape}")
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4 * (w^2, x^2, y^2, z^2), each read from the diagonal.
    squares = np.stack(
        [1.0 + m00 + m11 + m22, 1.0 + m00 - m11 - m22, 1.0 - m00 + m11 - m22, 1.0 - m00 - m11 + m22], axis=-1
    )
    pivot = np.argmax(squares, axis=-1)[..., None]
    # Each candidate is 4 * (its pivot component) times the quaternion; the others follow from off-diagonals.
    candidates = np.stack(
        [
            np.stack([squares[..., 0], m21 - m12, m02 - m20, m10 - m01], axis=-1),
            np.stack([m21 - m12, squares[..., 1], m01 + m10, m02 + m20], axis=-1),
            np.stack([m02 - m20, m01 + m10, squares[..., 2], m12 + m21], axis=-1),
            np.stack([m10 - m01, m02 + m20, m12 + m21, squares[..., 3]], axis=-1),
        ],
        axis=-2,
    )
    quat = np.take_along_axis(candidates, pivot[..., None], axis=-2)[..., 0, :]
    return canonical_quat(quat / np.linalg.norm(quat, axis=-1, keepdims=True))


def rot6d_from_matrix(matrix: np.ndarray) -> np.ndarray:
    """6D rotations (..., 6): the first two columns of the matrices, ``[m00, m10, m20, m01, m11, m21]``."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrices need shape (..., 3, 3), got {m.shape}")
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def matrix_from_rot6d(rot6d: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of 6D rotations, by Gram-Schmidt: the nearest rotation to any 6 numbers
    whose two 3-vectors are independent (what a network predicts), exact for the output of ``rot6d_from_matrix``."""
    rot6d = _float(rot6d, 6, "6D rotations")
    first, second = rot6d[..., :3], rot6d[..., 3:]
    x_axis = first / np.linalg.norm(first, axis=-1, keepdims=True)
    second = second - np.sum(x_axis * second, axis=-1, keepdims=True) * x_axis
    y_axis = second / np.linalg.norm(second, axis=-1, keepdims=True)
    return np.stack([x_axis, y_axis, np.cross(x_axis, y_axis)], axis=-1)


def quat_from_xyaxes(xyaxes: np.ndarray) -> np.ndarray:
    """Quaternion of a frame given its x and y axes as six numbers, as MJCF's ``xyaxes`` attribute does: both
    are normalised and y is made orthogonal to x; z = x cross y."""
    xyaxes = _float(xyaxes, 6, "xyaxes")
    return matrix_to_quat(matrix_from_rot6d(xyaxes))


# ------------------------------------------------------------------------------------------- poses


class Pose(NamedTuple):
    """A rigid transform of SE(3): a frame's ``position`` (..., 3) (m) and orientation ``quat`` (..., 4) in its
    parent frame. It unpacks like the ``(position, quaternion)`` pair it is: ``pos, quat = pose``."""

    position: np.ndarray
    quat: np.ndarray

    def compose(self, other: Pose) -> Pose:
        """``self * other``: ``other`` is given in the frame of ``self``; the result is in the parent of ``self``."""
        return Pose(self.transform_point(other.position), quat_multiply(self.quat, other.quat))

    def inverse(self) -> Pose:
        """The parent frame's pose in this frame."""
        inverse = quat_conjugate(self.quat)
        return Pose(-quat_rotate(inverse, self.position), inverse)

    def transform_point(self, point: np.ndarray) -> np.ndarray:
        """Points (..., 3) given in this frame, in the parent frame (m)."""
        return np.asarray(self.position, dtype=np.float64) + quat_rotate(self.quat, point)
