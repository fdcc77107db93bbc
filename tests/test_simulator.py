"""The simulated follower: control timing, units, action validation."""

from __future__ import annotations

import numpy as np
import pytest

from so101.sim.scene import SceneConfig
from so101.sim.simulator import START_POSE, So101Sim


@pytest.mark.parametrize("fps", [30, 50])
def test_each_control_step_advances_exactly_one_frame_of_sim_time(fps: int) -> None:
    sim = So101Sim(SceneConfig(fps=fps))
    sim.reset(0)
    for step in range(1, 2 * fps + 1):
        sim.step(sim.commanded_targets())
        assert sim.data.time == pytest.approx(step / fps, abs=1e-9)


def test_reset_puts_the_arm_at_rest_and_readings_are_dataset_units() -> None:
    sim = So101Sim()
    joints = sim.reset(0)
    np.testing.assert_allclose(joints, START_POSE, atol=1e-9)
    np.testing.assert_allclose(sim.commanded_targets(), START_POSE, atol=1e-9)


def test_joints_follow_targets_in_degrees_and_gripper_percent() -> None:
    sim = So101Sim()
    sim.reset(0)
    target = START_POSE + np.array([20.0, 10.0, -10.0, -15.0, 30.0, 50.0])
    for _ in range(60):
        sim.step(target)
    np.testing.assert_allclose(sim.joint_positions(), target, atol=1.5)
    # Gripper 0..100 spans the joint's range: 50 is its middle.
    gripper = sim.scene.limits
    middle = (gripper.lower[5] + gripper.upper[5]) / 2
    assert sim.data.qpos[sim.scene.joint_qpos_adr[5]] == pytest.approx(middle, abs=0.03)


def test_targets_outside_the_limits_are_clamped() -> None:
    sim = So101Sim()
    sim.reset(0)
    sim.step(np.array([500.0, 0.0, 0.0, 0.0, 0.0, 150.0]))
    np.testing.assert_allclose(sim.data.ctrl[sim.scene.actuator_ids][[0, 5]], sim.scene.limits.upper[[0, 5]])
    assert sim.commanded_targets()[0] == pytest.approx(110.0, abs=0.01)  # read back clamped, in degrees


def test_the_older_normalisation_is_converted_and_clamped_at_step() -> None:
    sim = So101Sim()
    sim.reset(0)
    limits = sim.scene.limits
    sim.step(np.array([0.0, -100.0, 100.0, 0.0, 250.0, 50.0]), "range_m100_100")
    ctrl = sim.data.ctrl[sim.scene.actuator_ids]
    middle = (limits.lower + limits.upper) / 2
    np.testing.assert_allclose(ctrl[[0, 1, 2, 3]], [middle[0], limits.lower[1], limits.upper[2], middle[3]])
    assert ctrl[4] == pytest.approx(limits.upper[4])  # 250 is beyond the range: clamped
    np.testing.assert_allclose(sim.commanded_targets("range_m100_100")[:5], [0.0, -100.0, 100.0, 0.0, 100.0])


@pytest.mark.parametrize("action", [np.zeros(5), np.full(6, np.nan), np.zeros((2, 6))])
def test_malformed_actions_are_refused(action: np.ndarray) -> None:
    sim = So101Sim()
    sim.reset(0)
    with pytest.raises(ValueError, match="6 finite joint targets"):
        sim.step(action)
