"""The pose layer against MuJoCo's own quaternion and pose functions, and its round trips (kinematics/pose.py)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from so101.kinematics.pose import (
    IDENTITY_QUAT,
    Pose,
    canonical_quat,
    make_quat_continuous,
    matrix_from_rot6d,
    matrix_to_quat,
    quat_angle,
    quat_conjugate,
    quat_from_rotvec,
    quat_from_xyaxes,
    quat_multiply,
    quat_normalize,
    quat_rotate,
    quat_slerp,
    quat_to_matrix,
    rot6d_from_matrix,
    rotvec_from_quat,
    yaw_quat,
)

N = 200


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def random_quats(rng: np.random.Generator, count: int = N) -> np.ndarray:
    quats = rng.normal(size=(count, 4))
    return quats / np.linalg.norm(quats, axis=1, keepdims=True)


def same_rotation(a: np.ndarray, b: np.ndarray, atol: float = 1e-12) -> None:
    np.testing.assert_allclose(canonical_quat(a), canonical_quat(b), atol=atol)


def test_multiply_conjugate_and_rotate_match_mujoco(rng: np.random.Generator) -> None:
    a, b, vectors = random_quats(rng), random_quats(rng), rng.normal(size=(N, 3))
    product, rotated, negated = quat_multiply(a, b), quat_rotate(a, vectors), quat_conjugate(a)
    for i in range(N):
        expected = np.empty(4)
        mujoco.mju_mulQuat(expected, a[i], b[i])
        np.testing.assert_allclose(product[i], expected, atol=1e-12)
        mujoco.mju_negQuat(expected, a[i])
        np.testing.assert_allclose(negated[i], expected, atol=1e-15)
        expected_vec = np.empty(3)
        mujoco.mju_rotVecQuat(expected_vec, vectors[i], a[i])
        np.testing.assert_allclose(rotated[i], expected_vec, atol=1e-12)


def test_rotation_vectors_match_mujoco_and_round_trip(rng: np.random.Generator) -> None:
    quats = random_quats(rng)
    rotvecs = rotvec_from_quat(quats)
    for quat, rotvec in zip(quats, rotvecs, strict=True):
        expected = np.empty(3)
        mujoco.mju_quat2Vel(expected, quat, 1.0)  # the angular velocity that turns by quat in 1 s
        np.testing.assert_allclose(rotvec, expected, atol=1e-12)
        angle = np.linalg.norm(rotvec)
        from_axis = np.empty(4)
        mujoco.mju_axisAngle2Quat(from_axis, rotvec / angle, angle)
        same_rotation(quat_from_rotvec(rotvec), from_axis)
    assert np.all(np.linalg.norm(rotvecs, axis=1) <= np.pi + 1e-12)
    same_rotation(quat_from_rotvec(rotvecs), quats)
    # Tiny and zero angles: no division by zero, first-order exact.
    tiny = np.array([[1e-12, -2e-12, 0.5e-12], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(rotvec_from_quat(quat_from_rotvec(tiny)), tiny, atol=1e-24)
    np.testing.assert_allclose(quat_from_rotvec(np.zeros(3)), IDENTITY_QUAT)
    # A quaternion and its negative give the same (shorter-way) rotation vector.
    np.testing.assert_allclose(rotvec_from_quat(-quats), rotvecs, atol=1e-12)


def test_matrices_match_mujoco_and_round_trip(rng: np.random.Generator) -> None:
    quats = random_quats(rng)
    matrices = quat_to_matrix(quats)
    for quat, matrix in zip(quats, matrices, strict=True):
        expected = np.empty(9)
        mujoco.mju_quat2Mat(expected, quat)
        np.testing.assert_allclose(matrix.ravel(), expected, atol=1e-12)
        back = np.empty(4)
        mujoco.mju_mat2Quat(back, matrix.ravel())
        same_rotation(matrix_to_quat(matrix), back)
    same_rotation(matrix_to_quat(matrices), quats)
    # Half turns, where reading the quaternion off the trace alone loses all precision.
    half_turns = quat_from_rotvec(np.pi * np.eye(3))
    same_rotation(matrix_to_quat(quat_to_matrix(half_turns)), half_turns)
    assert np.all(matrix_to_quat(matrices)[:, 0] >= 0.0)


def test_6d_rotations_round_trip_and_orthonormalise(rng: np.random.Generator) -> None:
    matrices = quat_to_matrix(random_quats(rng))
    rot6d = rot6d_from_matrix(matrices)
    assert rot6d.shape == (N, 6)
    np.testing.assert_allclose(rot6d[:, :3], matrices[:, :, 0])
    np.testing.assert_allclose(matrix_from_rot6d(rot6d), matrices, atol=1e-12)
    # What a network predicts is not orthonormal: the result is still a rotation, with the first axis kept.
    noisy = matrix_from_rot6d(3.0 * rot6d + rng.normal(scale=0.1, size=rot6d.shape))
    np.testing.assert_allclose(noisy @ np.swapaxes(noisy, -1, -2), np.broadcast_to(np.eye(3), noisy.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(noisy), 1.0, atol=1e-12)


def test_xyaxes_match_mujoco_compiler() -> None:
    xyaxes = [(0.0, 1.0, 0.0, -0.894, 0.0, -0.447), (1.0, 1.0, 0.0, 0.0, 0.3, 2.0), (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0)]
    bodies = "".join(f'<body xyaxes="{" ".join(map(str, axes))}"><geom size="0.1"/></body>' for axes in xyaxes)
    model = mujoco.MjModel.from_xml_string(f"<mujoco><worldbody>{bodies}</worldbody></mujoco>")
    for i, axes in enumerate(xyaxes):
        same_rotation(quat_from_xyaxes(np.array(axes)), model.body_quat[i + 1], atol=1e-7)


def test_angle_slerp_and_yaw(rng: np.random.Generator) -> None:
    a, b = random_quats(rng), random_quats(rng)
    np.testing.assert_allclose(quat_angle(a, -a), 0.0, atol=1e-7)
    relative = quat_multiply(quat_conjugate(a), b)
    np.testing.assert_allclose(quat_angle(a, b), np.linalg.norm(rotvec_from_quat(relative), axis=1), atol=1e-12)
    for t in (0.0, 0.3, 1.0):
        between = quat_slerp(a, b, t)
        np.testing.assert_allclose(quat_angle(a, between), t * quat_angle(a, b), atol=1e-9)
    np.testing.assert_allclose(quat_slerp(a, a, 0.5), a, atol=1e-12)
    # The shorter arc: -b is the same goal.
    np.testing.assert_allclose(quat_angle(quat_slerp(a, -b, 0.5), quat_slerp(a, b, 0.5)), 0.0, atol=1e-7)
    np.testing.assert_allclose(quat_rotate(yaw_quat(np.pi / 2), np.array([1.0, 0.0, 0.0])), [0, 1, 0], atol=1e-15)
    assert yaw_quat(np.zeros((2, 3))).shape == (2, 3, 4)


def test_sign_continuity_along_batched_sequences(rng: np.random.Generator) -> None:
    angles = np.linspace(0.0, 4 * np.pi, 50)
    sweep = np.stack([np.cos(angles / 2), np.sin(angles / 2), np.zeros(50), np.zeros(50)], axis=1)
    flipped = np.stack([sweep, sweep]) * rng.choice([-1.0, 1.0], size=(2, 50, 1))
    continuous = make_quat_continuous(flipped)
    assert continuous.shape == (2, 50, 4)
    assert np.all(continuous[:, 0, 0] >= 0.0)
    assert np.all(np.sum(continuous[:, 1:] * continuous[:, :-1], axis=-1) > 0.0)
    np.testing.assert_allclose(np.abs(continuous), np.abs(flipped), atol=1e-12)
    assert make_quat_continuous(np.zeros((0, 4))).shape == (0, 4)
    with pytest.raises(ValueError, match="sequence"):
        make_quat_continuous(np.ones(4))


def test_poses_compose_invert_and_transform_like_mujoco(rng: np.random.Generator) -> None:
    positions, quats = rng.normal(size=(2, N, 3)), random_quats(rng, 2 * N).reshape(2, N, 4)
    a, b = Pose(positions[0], quats[0]), Pose(positions[1], quats[1])
    composed, inverse, points = a.compose(b), a.inverse(), a.transform_point(positions[1])
    for i in range(N):
        pos, quat = np.empty(3), np.empty(4)
        mujoco.mju_mulPose(pos, quat, positions[0, i], quats[0, i], positions[1, i], quats[1, i])
        np.testing.assert_allclose(composed.position[i], pos, atol=1e-12)
        np.testing.assert_allclose(composed.quat[i], quat, atol=1e-12)
        mujoco.mju_negPose(pos, quat, positions[0, i], quats[0, i])
        np.testing.assert_allclose(inverse.position[i], pos, atol=1e-12)
        np.testing.assert_allclose(inverse.quat[i], quat, atol=1e-12)
        mujoco.mju_trnVecPose(pos, positions[0, i], quats[0, i], positions[1, i])
        np.testing.assert_allclose(points[i], pos, atol=1e-12)
    identity = a.compose(a.inverse())
    np.testing.assert_allclose(identity.position, 0.0, atol=1e-12)
    same_rotation(identity.quat, np.broadcast_to(IDENTITY_QUAT, (N, 4)))
    pos, quat = a  # a pose unpacks as the (position, quaternion) pair
    assert pos is a.position and quat is a.quat


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="4 values"):
        quat_multiply(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="non-zero"):
        quat_normalize(np.zeros(4))
    with pytest.raises(ValueError, match="3, 3"):
        matrix_to_quat(np.eye(4))


def test_quaternion_helpers() -> None:
    q = np.array([np.cos(0.2), 0.0, np.sin(0.2), 0.0])
    assert quat_angle(q, -q) == pytest.approx(0.0, abs=1e-12)
    assert quat_angle(q, np.array([1.0, 0, 0, 0])) == pytest.approx(0.4)
    np.testing.assert_allclose(quat_multiply(q, quat_conjugate(q)), [1, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(canonical_quat(-q), q)
