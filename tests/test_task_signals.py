"""Task signals, driven by setting simulation states directly."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from grasp_poses import grasp_pose

from so101.sim.randomization import ScenePlacement
from so101.sim.scene import BOWL_RIM_HEIGHT
from so101.sim.simulator import So101Sim

PLACEMENT = ScenePlacement(seed=None, brick_pos=(0.21, 0.09, 0.0096), brick_yaw=0.3, bowl_pos=(0.2, -0.14, 0.0))


def _put_brick(sim: So101Sim, position: tuple[float, float, float], yaw: float = 0.0) -> None:
    adr = sim.scene.brick_qpos_adr
    sim.data.qpos[adr : adr + 3] = position
    sim.data.qpos[adr + 3 : adr + 7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
    sim.data.qvel[:] = 0.0
    mujoco.mj_forward(sim.model, sim.data)


def _hold(sim: So101Sim, seconds: float) -> None:
    for _ in range(round(seconds * sim.fps)):
        sim.step(sim.commanded_targets())


@pytest.fixture
def sim() -> So101Sim:
    simulation = So101Sim()
    simulation.reset(PLACEMENT)
    return simulation


def test_brick_on_table_gives_no_signal(sim: So101Sim) -> None:
    _hold(sim, 0.5)
    signals = sim.signals
    assert not (signals.grasped or signals.lifted or signals.over_bowl or signals.released or signals.success)


def test_brick_in_bowl_succeeds_after_half_a_second(sim: So101Sim) -> None:
    bowl = np.array(PLACEMENT.bowl_pos)
    _put_brick(sim, tuple(bowl + np.array([0.01, 0.0, 0.004 + 0.0096])))
    steps_to_success = None
    for step in range(1, 40):
        signals = sim.step(sim.commanded_targets())
        assert signals.released and signals.over_bowl and not signals.grasped
        if signals.success and steps_to_success is None:
            steps_to_success = step
    assert steps_to_success == 15  # 0.5 s at 30 fps


def test_brick_beside_bowl_or_above_rim_is_not_success(sim: So101Sim) -> None:
    bowl = np.array(PLACEMENT.bowl_pos)
    _put_brick(sim, tuple(bowl + np.array([0.0, 0.09, 0.0096])))
    _hold(sim, 0.8)
    assert not sim.signals.over_bowl and not sim.signals.success
    # Stacked on something above the rim: freeze the brick there by removing gravity.
    sim.model.opt.gravity[:] = 0.0
    _put_brick(sim, tuple(bowl + np.array([0.0, 0.0, BOWL_RIM_HEIGHT + 0.03])))
    _hold(sim, 0.8)
    assert sim.signals.over_bowl and not sim.signals.success


def test_grasp_lift_and_holding_over_bowl_is_not_success(sim: So101Sim) -> None:
    brick = np.array(PLACEMENT.brick_pos)
    open_pose = grasp_pose(sim, brick, PLACEMENT.brick_yaw)
    sim.place_arm(open_pose)
    closed = open_pose.copy()
    closed[5] = 0.0
    for _ in range(20):
        signals = sim.step(closed)
    assert signals.grasped and not signals.lifted
    # Lift by raising the shoulder, hold, then move the bowl under the brick.
    lifted = closed.copy()
    lifted[1] -= 25.0
    for fraction in np.linspace(0.0, 1.0, 30):
        signals = sim.step(closed + fraction * (lifted - closed))
    assert signals.grasped and signals.lifted
    sim.model.body_pos[sim.scene.bowl_body][:2] = sim.data.xpos[sim.scene.brick_body][:2]
    for _ in range(45):
        signals = sim.step(lifted)
    assert signals.grasped and signals.over_bowl and not signals.released and not signals.success
    assert signals.ever_grasped and signals.ever_lifted and not signals.ever_released_over_bowl
