"""End-effector feature layouts: names, round trips, continuity through a roll of +-180 degrees
(kinematics/ee_features.py)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from so101.kinematics.ee_features import ROTATION_ENCODINGS, EELayout, make_rotvec_continuous
from so101.kinematics.fk import ForwardKinematics
from so101.kinematics.pose import quat_angle, quat_from_rotvec, quat_multiply, quat_normalize
from so101.kinematics.units import JointLimits, dataset_to_radians
from so101.sim.paths import ROBOT_XML


def test_rotvec_layout_is_lerobots() -> None:
    assert EELayout().names == ("ee.x", "ee.y", "ee.z", "ee.wx", "ee.wy", "ee.wz", "ee.gripper_pos")
    assert [EELayout(r).dim for r in ROTATION_ENCODINGS] == [7, 8, 10]  # type: ignore[arg-type]
    for rotation in ROTATION_ENCODINGS:
        layout = EELayout(rotation)  # type: ignore[arg-type]
        assert EELayout.from_names(layout.names) == layout
        assert EELayout.from_dim(layout.dim) == layout
        assert EELayout.from_json(layout.to_json()) == layout
    assert EELayout.from_names(["shoulder_pan.pos"]) is None
    with pytest.raises(ValueError, match="--rotation"):
        EELayout("euler")  # type: ignore[arg-type]


def roll_through_pi(frames: int = 41) -> np.ndarray:
    """Orientations turning about a tilted axis from 160 to 200 degrees: through the +-180 degree seam."""
    axis = np.array([0.3, -0.2, 0.93])
    axis /= np.linalg.norm(axis)
    angles = np.deg2rad(np.linspace(160.0, 200.0, frames))
    tilt = quat_from_rotvec([0.0, 0.4, 0.0])
    return quat_multiply(quat_from_rotvec(angles[:, None] * axis), tilt)


@pytest.mark.parametrize("rotation", ROTATION_ENCODINGS)
def test_every_encoding_is_continuous_through_a_roll_of_180_degrees(rotation: str) -> None:
    layout = EELayout(rotation)  # type: ignore[arg-type]
    quats = roll_through_pi()
    # Random signs: the FK may hand over either sign of each quaternion.
    quats = quats * np.where(np.random.default_rng(0).random(len(quats)) < 0.5, -1.0, 1.0)[:, None]
    positions = np.linspace([0.2, 0.0, 0.1], [0.25, 0.05, 0.1], len(quats))
    features = layout.encode(positions, quats, np.full(len(quats), 40.0))
    # 1 degree per frame: no feature may move by more than a few hundredths between frames.
    assert np.max(np.abs(np.diff(features, axis=0))) < 0.05
    position, quat, gripper = layout.decode(features)
    np.testing.assert_allclose(position, positions, atol=1e-12)
    assert np.max(quat_angle(quat, quats)) < 1e-9
    np.testing.assert_allclose(gripper, 40.0)


def test_rotvec_seam_would_jump_without_the_unwrap() -> None:
    from so101.kinematics.pose import rotvec_from_quat

    raw = rotvec_from_quat(roll_through_pi())
    assert np.max(np.linalg.norm(np.diff(raw, axis=0), axis=1)) > 6.0  # pi * axis -> -pi * axis
    unwrapped = make_rotvec_continuous(raw)
    assert np.max(np.linalg.norm(np.diff(unwrapped, axis=0), axis=1)) < 0.05
    assert np.max(quat_angle(quat_from_rotvec(unwrapped), quat_from_rotvec(raw))) < 1e-9


@pytest.mark.parametrize("rotation", ROTATION_ENCODINGS)
def test_a_full_wrist_roll_from_the_fk_stays_continuous(rotation: str) -> None:
    model = mujoco.MjModel.from_xml_path(str(ROBOT_XML))
    limits = JointLimits.from_model(model)
    joints = np.tile([0.0, -20.0, 30.0, 80.0, 0.0, 50.0], (300, 1))
    joints[:, 4] = np.linspace(-155.0, 160.0, 300)  # the whole roll range, ~1 degree a frame
    pose = ForwardKinematics(model).batch(dataset_to_radians(joints, limits))
    layout = EELayout(rotation)  # type: ignore[arg-type]
    features = layout.encode(pose.position, pose.quat, joints[:, 5])
    assert np.max(np.abs(np.diff(features[:, 3:-1], axis=0))) < 0.05
    assert np.max(quat_angle(layout.decode(features)[1], pose.quat)) < 1e-9


def test_decode_takes_what_a_network_predicts() -> None:
    # Unnormalised quaternions and non-orthogonal 6D columns decode to the nearest rotation.
    q = quat_normalize(np.array([0.9, 0.1, -0.3, 0.2]))
    quat_layout, six_d = EELayout("quat"), EELayout("6d")
    _, decoded, _ = quat_layout.decode(np.concatenate([[0, 0, 0], -2.0 * q, [0.0]]))
    assert quat_angle(decoded, q) < 1e-12
    features = six_d.encode(np.zeros((1, 3)), q[None], np.zeros(1))[0]
    features[3:9] *= 1.7
    features[6:9] += 0.01 * features[3:6]
    assert quat_angle(six_d.decode(features)[1], q) < 0.02
    with pytest.raises(ValueError, match="need 7 values"):
        EELayout().decode(np.zeros(6))


@pytest.mark.parametrize("rotation", ROTATION_ENCODINGS)
def test_encode_next_continues_a_sequence_as_encode_does(rotation: str) -> None:
    layout = EELayout(rotation)  # type: ignore[arg-type]
    quats = roll_through_pi() * np.where(np.arange(41) % 3 == 0, -1.0, 1.0)[:, None]
    positions, gripper = np.zeros((41, 3)), np.full(41, 10.0)
    whole = layout.encode(positions, quats, gripper)
    previous = None
    for t in range(41):
        previous = layout.encode_next(positions[t], quats[t], gripper[t], previous)
        np.testing.assert_allclose(previous, whole[t], atol=1e-9)
