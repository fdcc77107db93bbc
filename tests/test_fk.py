"""Forward kinematics of the gripper frame (kinematics/fk.py)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from arm_scenes import model_params, scene_with_arm

from so101.kinematics.fk import ForwardKinematics
from so101.kinematics.pose import Pose, quat_angle


@pytest.fixture(params=model_params(), scope="module")
def model(request: pytest.FixtureRequest) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(request.param))


def test_zero_pose(model: mujoco.MjModel) -> None:
    # At the so101_new_calib zero the arm reaches forward: the gripper frame is 39.1 cm ahead of the base
    # origin, 22.6 cm up, in the arm's plane (y = 0), pitched by 2.8 deg about x (w = cos 1.4 deg).
    pos, quat = ForwardKinematics(model).pose(np.zeros(6))
    np.testing.assert_allclose(pos, [0.3914, 0.0, 0.2265], atol=1e-3)
    np.testing.assert_allclose(np.abs(quat), [0.99970, 0.02434, 0.0, 0.0], atol=1e-3)


def test_single_joints_turn_the_frame_by_their_angle(model: mujoco.MjModel) -> None:
    fk = ForwardKinematics(model)
    rng = np.random.default_rng(0)
    base = np.zeros(6)
    base[:5] = rng.uniform(-0.5, 0.5, 5)
    pos0, quat0 = fk.pose(base)
    for joint in range(5):
        q = base.copy()
        q[joint] += 0.3
        assert quat_angle(fk.pose(q)[1], quat0) == pytest.approx(0.3, abs=1e-9)
    # lift, elbow and wrist flex turn about parallel axes: opposite turns cancel in the orientation.
    q = base.copy()
    q[1:4] += [0.2, 0.3, -0.5]
    assert quat_angle(fk.pose(q)[1], quat0) == pytest.approx(0.0, abs=1e-9)
    # The gripper joint moves the jaw, not the frame.
    q = base.copy()
    q[5] = 1.0
    np.testing.assert_allclose(fk.pose(q)[0], pos0, atol=1e-12)


def test_pan_turns_the_frame_about_the_vertical_pan_axis(model: mujoco.MjModel) -> None:
    fk = ForwardKinematics(model)
    p0, _ = fk.pose(np.zeros(6))
    p1, _ = fk.pose(np.array([0.7, 0, 0, 0, 0, 0]))
    axis_x = 0.0388  # the pan axis is vertical, 3.88 cm ahead of the base origin
    assert p1[2] == pytest.approx(p0[2], abs=1e-9)
    assert np.hypot(p1[0] - axis_x, p1[1]) == pytest.approx(np.hypot(p0[0] - axis_x, p0[1]), abs=1e-4)


def test_pose_is_in_the_base_frame_of_a_scene(model: mujoco.MjModel, request: pytest.FixtureRequest) -> None:
    path = request.node.callspec.params["model"]
    scene = scene_with_arm(path, [0.1, -0.2, 0.75], 0.6)
    assert scene.jnt_qposadr[mujoco.mj_name2id(scene, mujoco.mjtObj.mjOBJ_JOINT, "shoulder_pan")] == 7
    q = np.array([0.4, -0.3, 0.5, 0.2, -1.0, 0.3])
    pos, quat = ForwardKinematics(model).pose(q)
    scene_pos, scene_quat = ForwardKinematics(scene).pose(q)
    np.testing.assert_allclose(scene_pos, pos, atol=1e-12)
    assert quat_angle(scene_quat, quat) < 1e-9


def test_batch_matches_single_poses_and_is_sign_continuous(model: mujoco.MjModel) -> None:
    fk = ForwardKinematics(model)
    t = np.linspace(0.0, 1.0, 200)
    qs = np.zeros((200, 6))
    qs[:, :4] = [1.5, 1.2, 0.3, 1.5]
    qs[:, 0] += 0.3 * np.sin(2 * np.pi * t)
    qs[:, 4] = np.linspace(-2.7, 2.8, 200)  # the roll sweeps almost a full turn: w changes sign
    poses = fk.batch(qs)
    assert isinstance(poses, Pose)
    positions, quats = poses
    assert positions.shape == (200, 3) and quats.shape == (200, 4)
    for i in (0, 77, 199):
        pos, quat = fk.pose(qs[i])
        np.testing.assert_allclose(positions[i], pos, atol=1e-12)
        assert quat_angle(quats[i], quat) < 1e-9
    assert quats[0, 0] >= 0.0
    assert np.all(np.einsum("ij,ij->i", quats[1:], quats[:-1]) > 0.0)
    singles = np.array([fk.pose(q)[1] for q in qs])
    assert np.any(np.einsum("ij,ij->i", singles[1:], singles[:-1]) < 0.0), "the sweep should cross w = 0"
