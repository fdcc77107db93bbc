"""The end-effector controller: latch without a jump, exact small moves, the step bound, failures that hold still,
best-effort orientation (kinematics/ee_controller.py)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from so101.kinematics.ee_controller import EEControllerConfig, EndEffectorController
from so101.kinematics.fk import ForwardKinematics
from so101.kinematics.pose import quat_angle, quat_conjugate, quat_from_rotvec, quat_multiply
from so101.kinematics.units import dataset_to_radians
from so101.sim.paths import ROBOT_XML

START = np.array([10.0, -30.0, 40.0, 60.0, 5.0, 30.0])
"""Joint targets in dataset units: the arm reaching forward and a little to the side, the gripper a third open."""


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(ROBOT_XML))


@pytest.fixture()
def controller(model: mujoco.MjModel) -> EndEffectorController:
    controller = EndEffectorController(model)
    controller.latch(START)
    return controller


def tcp(controller: EndEffectorController, model: mujoco.MjModel, targets: np.ndarray):
    return ForwardKinematics(model).pose(dataset_to_radians(targets, controller.limits))


def test_latching_and_relatching_never_move_the_arm(controller: EndEffectorController, model) -> None:
    reference = controller.reference
    position, quat = tcp(controller, model, START)
    np.testing.assert_allclose(reference.position, position, atol=1e-12)
    assert quat_angle(reference.quat, quat) < 1e-9
    for _ in range(3):
        result = controller.move()
        assert result.ok and not result.step_limited
        np.testing.assert_array_equal(result.targets, START)
    # Re-latch elsewhere, then a zero change: still exactly the targets latched.
    moved = START + np.array([-20.0, 10.0, -15.0, 5.0, 30.0, 0.0])
    controller.latch(moved)
    np.testing.assert_array_equal(controller.move(translation=np.zeros(3), rotation=np.zeros(3)).targets, moved)
    np.testing.assert_array_equal(controller.targets, moved)


def test_a_small_translation_moves_the_tcp_by_that_much(controller: EndEffectorController, model) -> None:
    for offset in ([0.01, 0.0, 0.0], [0.0, -0.008, 0.005], [0.003, 0.004, -0.01]):
        reference = controller.latch(START)
        result = controller.move(translation=np.array(offset))
        assert result.ok and not result.step_limited, result
        position, quat = tcp(controller, model, result.targets)
        np.testing.assert_allclose(position - reference.position, offset, atol=1e-4)  # sub-millimetre
        assert quat_angle(quat, reference.quat) < np.deg2rad(2.0)  # the orientation nearly kept
        assert result.targets[5] == START[5]  # the gripper passes through


def test_tool_and_base_frame_rotations(controller: EndEffectorController, model) -> None:
    # A roll about the TCP's own x axis (out of the fingers) is nearly what wrist_roll does: that joint turns,
    # by the angle asked (negative: the roll axis points back along the fingers), the others barely.
    roll = 0.08
    result = controller.move(tool_rotation=np.array([roll, 0.0, 0.0]))
    assert result.ok and result.orientation_error < 0.005, result
    change = result.targets - START
    assert change[4] == pytest.approx(-np.rad2deg(roll), abs=0.2) and np.all(np.abs(change[:4]) < 0.5)
    # The same turn given in the base frame (ref * tool = (ref tool ref^-1) * ref), as a quaternion, lands on the
    # same targets.
    reference = controller.reference
    turn = quat_from_rotvec(np.array([roll, 0.0, 0.0]))
    base_turn = quat_multiply(quat_multiply(reference.quat, turn), quat_conjugate(reference.quat))
    controller.latch(START)
    np.testing.assert_allclose(controller.move(rotation=base_turn).targets, result.targets, atol=1e-6)


def test_the_step_bound_approaches_a_far_target_over_several_steps(model: mujoco.MjModel) -> None:
    controller = EndEffectorController(model, EEControllerConfig(max_joint_step_deg=2.0))
    controller.latch(START)
    goal = START + np.array([-40.0, 25.0, -30.0, 20.0, 50.0, 0.0])
    goal_position, goal_quat = tcp(controller, model, goal)
    previous, steps = START, 0
    while True:
        result = controller.move_to(goal_position, goal_quat, gripper=80.0)
        assert result.ok
        assert np.max(np.abs(result.targets[:5] - previous[:5])) <= 2.0 + 1e-9
        assert result.targets[5] == 80.0
        previous, steps = result.targets, steps + 1
        if not result.step_limited:
            break
    assert steps >= 25  # 50 degrees of wrist roll at 2 degrees a step
    position, quat = tcp(controller, model, result.targets)
    assert np.linalg.norm(position - goal_position) < 1e-4 and quat_angle(quat, goal_quat) < 1e-3


def test_an_unreachable_target_reports_failure_and_holds_still(controller: EndEffectorController) -> None:
    before = controller.targets
    for i in range(3):
        result = controller.move(translation=np.array([0.6, 0.0, 0.0]), gripper=50.0)
        assert not result.ok and result.ik_status == "unreachable" and result.position_error > 0.1, result
        np.testing.assert_array_equal(result.targets[:5], before[:5])  # the body holds still...
        assert result.targets[5] == 50.0  # ...the gripper still follows its command
        assert controller.failures == i + 1
    # Back within reach, the controller carries on from where it held.
    assert controller.move(translation=np.array([0.0, 0.0, 0.01])).ok


def test_an_orientation_the_5_joint_arm_cannot_take_is_best_effort(controller: EndEffectorController, model) -> None:
    # A turn about the TCP's z axis (across the jaws) with the TCP kept in place: no joint of a 5-DOF arm
    # supplies it there. The position is held exactly; the orientation comes as near as the arm allows.
    reference = controller.reference
    turn = np.array([0.0, 0.0, 0.3])
    result = controller.move(tool_rotation=turn)
    assert result.ok, result
    position, quat = tcp(controller, model, result.targets)
    np.testing.assert_allclose(position, reference.position, atol=1e-3)
    target = quat_multiply(reference.quat, quat_from_rotvec(turn))
    assert 0.0 < result.orientation_error <= quat_angle(reference.quat, target)
    assert quat_angle(quat, target) == pytest.approx(result.orientation_error, abs=1e-6)
    assert result.position_error < 1e-4


def test_bad_use_is_refused(model: mujoco.MjModel) -> None:
    controller = EndEffectorController(model)
    with pytest.raises(RuntimeError, match="latch"):
        controller.move()
    with pytest.raises(ValueError, match="6 finite"):
        controller.latch(np.zeros(5))
    controller.latch(START)
    with pytest.raises(ValueError, match="rotation"):
        controller.move(rotation=np.zeros(2))
    with pytest.raises(ValueError, match="max_joint_step_deg"):
        EEControllerConfig(max_joint_step_deg=0.0)


def test_jogging_into_a_joint_limit_stops_at_the_limit(controller: EndEffectorController) -> None:
    # Keyboard-style jogging: re-latch every step and roll on. wrist_roll runs into its limit and stays there.
    lower, upper = np.rad2deg(controller.limits.lower), np.rad2deg(controller.limits.upper)
    for _ in range(40):
        controller.latch(controller.targets)
        result = controller.move(tool_rotation=np.array([0.1, 0.0, 0.0]))
        assert np.all(result.targets[:5] >= lower[:5] - 1e-9) and np.all(result.targets[:5] <= upper[:5] + 1e-9)
    assert result.targets[4] == pytest.approx(lower[4], abs=1e-6)
