"""EE actions -> joint targets through the end-effector controller (kinematics/ee_action.py)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from so101.kinematics.ee_action import EEActionAdapter
from so101.kinematics.ee_features import ROTATION_ENCODINGS, EELayout
from so101.kinematics.fk import ForwardKinematics
from so101.kinematics.units import JointLimits, dataset_to_radians
from so101.sim.paths import ROBOT_XML

START = np.array([10.0, -30.0, 40.0, 60.0, 5.0, 30.0])
GOAL = np.array([20.0, -10.0, 25.0, 70.0, -20.0, 80.0])


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(ROBOT_XML))


def action_of(model: mujoco.MjModel, joints: np.ndarray, layout: EELayout) -> np.ndarray:
    fk = ForwardKinematics(model, site=layout.tcp)
    pose = fk.batch(dataset_to_radians(joints[None], JointLimits.from_model(model)))
    return layout.encode(pose.position, pose.quat, joints[None, 5])[0]


@pytest.mark.parametrize("rotation", ROTATION_ENCODINGS)
def test_an_ee_action_brings_the_arm_to_its_joints_within_the_step_bound(model, rotation: str) -> None:
    layout = EELayout(rotation)  # type: ignore[arg-type]
    adapter = EEActionAdapter(model, layout)
    adapter.reset(START)
    action = action_of(model, GOAL, layout)
    previous = START
    for _ in range(10):
        result = adapter.to_joint_targets(action)
        assert result.ok
        assert np.max(np.abs(result.targets[:5] - previous[:5])) <= 6.0 + 1e-9  # the controller's bound
        previous = result.targets
    np.testing.assert_allclose(result.targets, GOAL, atol=0.05)
    assert adapter.failures == 0 and adapter.steps == 10 and adapter.failure_rate == 0.0


def test_an_unreachable_action_holds_the_arm_and_counts(model) -> None:
    adapter = EEActionAdapter(model)
    action = action_of(model, GOAL, EELayout())
    action[:3] = [2.0, 0.0, 0.5]  # 2 m away: out of reach
    result = adapter.to_joint_targets(action, current_joint_targets=START)
    assert not result.ok
    np.testing.assert_array_equal(result.targets[:5], START[:5])
    assert adapter.failures == 1 and adapter.failure_rate == 1.0


def test_a_tcp_on_the_gripper_body_is_moved_onto_the_gripper_frame() -> None:
    spec = mujoco.MjSpec.from_file(str(ROBOT_XML))
    spec.body("gripper").add_site(name="tip", pos=[-0.01, 0.0, -0.11], quat=[1.0, 0.0, 0.0, 0.0])
    model = spec.compile()
    layout = EELayout("quat", tcp="tip")
    adapter = EEActionAdapter(model, layout)
    adapter.reset(START)
    action = action_of(model, GOAL, layout)
    for _ in range(10):
        result = adapter.to_joint_targets(action)
    np.testing.assert_allclose(result.targets, GOAL, atol=0.05)


def test_a_tcp_that_is_not_on_the_gripper_is_refused(model) -> None:
    with pytest.raises(ValueError, match="no site named 'nowhere'"):
        EEActionAdapter(model, EELayout(tcp="nowhere"))
    with pytest.raises(ValueError, match="not on the body"):
        EEActionAdapter(model, EELayout(tcp="baseframe"))
