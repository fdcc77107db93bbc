"""The Gymnasium environment with end-effector actions: the controller inside, its step bound, IK failures in
``info`` (sim/env.py)."""

from __future__ import annotations

import numpy as np

from so101.kinematics.ee_convert import JointsToEE
from so101.kinematics.ee_features import EELayout
from so101.sim.env import So101PickPlaceEnv
from so101.sim.scene import CameraConfig

SMALL = [CameraConfig("wrist_cam", 32, 24)]


def test_ee_actions_move_the_arm_through_the_controller_and_failures_are_counted() -> None:
    layout = EELayout("6d")
    env = So101PickPlaceEnv(cameras=SMALL, episode_length=40, ee_layout=layout)
    env.reset(seed=0)
    assert env.action_space.shape == (10,)
    start = env.sim.commanded_targets()
    goal = start + np.array([15.0, 10.0, -10.0, 5.0, 20.0, 30.0])
    action = JointsToEE(env.sim.model, layout).convert(goal[None])[0].astype(np.float32)
    previous = start
    for _ in range(12):
        _, _, _, _, info = env.step(action)
        targets = env.sim.commanded_targets()
        assert info["ik_ok"] and info["ik_failures"] == 0
        assert np.max(np.abs(targets[:5] - previous[:5])) <= 6.0 + 1e-3  # the controller's step bound
        previous = targets
    np.testing.assert_allclose(env.sim.commanded_targets(), goal, atol=0.05)
    far = action.copy()
    far[:3] = [1.5, 0.0, 0.2]
    _, _, _, _, info = env.step(far)
    assert not info["ik_ok"] and info["ik_failures"] == 1
    np.testing.assert_allclose(env.sim.commanded_targets(), previous, atol=1e-4)  # held
    env.reset(seed=1)
    _, _, _, _, info = env.step(JointsToEE(env.sim.model, layout).convert(env.sim.commanded_targets()[None])[0])
    assert info["ik_failures"] == 0  # counted per episode
    env.close()
