"""Between the joints and a policy's spaces (inference/policy_spaces.py)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from so101.inference.policy_spaces import PolicySpaces
from so101.kinematics.ee_convert import JointsToEE
from so101.kinematics.ee_features import EELayout
from so101.policies.checkpoint import SimRequirements
from so101.sim.paths import ROBOT_XML

START = np.array([10.0, -30.0, 40.0, 60.0, 5.0, 30.0])


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(ROBOT_XML))


def test_joint_spaces_pass_through(model) -> None:
    spaces = PolicySpaces(model, SimRequirements(cameras={}))
    assert not spaces.end_effector
    spaces.reset(START)
    assert spaces.state(START) is START and spaces.joint_targets(START) is START


def test_ee_state_is_the_converted_pose_and_ee_actions_go_through_the_ik(model) -> None:
    layout = EELayout("quat")
    spaces = PolicySpaces(model, SimRequirements(cameras={}, action_space="ee", state_space="ee", ee_layout=layout))
    assert spaces.end_effector
    spaces.reset(START)
    trajectory = START + np.linspace(0.0, 1.0, 10)[:, None] * np.array([10.0, 5.0, -5.0, 5.0, 30.0, 20.0])
    expected = JointsToEE(model, layout).convert(trajectory)
    for t, joints in enumerate(trajectory):
        np.testing.assert_allclose(spaces.state(joints), expected[t], atol=1e-9)  # continuous like the dataset
    targets = spaces.joint_targets(expected[-1])
    assert np.max(np.abs(targets[:5] - START[:5])) <= 6.0 + 1e-9
    far = expected[-1].copy()
    far[:3] = [2.0, 0.0, 0.0]
    spaces.joint_targets(far)
    assert (spaces.ik_steps, spaces.ik_failures) == (2, 1)
    spaces.reset(START)
    assert (spaces.ik_steps, spaces.ik_failures) == (0, 0)
    with pytest.raises(ValueError, match="ee_layout"):
        PolicySpaces(model, SimRequirements(cameras={}, action_space="ee"))
