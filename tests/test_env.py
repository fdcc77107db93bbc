"""The Gymnasium environment: spaces, time limit, success info, registration."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from so101.sim.env import ENV_ID, TASK, So101PickPlaceEnv
from so101.sim.options import EPISODE_TIME_S
from so101.sim.randomization import ScenePlacement
from so101.sim.scene import CameraConfig

SMALL = [CameraConfig("overhead_cam", 64, 48), CameraConfig("wrist_cam", 64, 48)]


def test_observations_match_the_spaces_and_lerobot_layout() -> None:
    env = gym.make(ENV_ID, cameras=SMALL, episode_length=5)
    observation, info = env.reset(seed=0)
    assert env.observation_space.contains(observation)
    assert set(observation) == {"agent_pos", "pixels"}
    assert set(observation["pixels"]) == {"overhead_cam", "wrist_cam"}
    assert observation["pixels"]["wrist_cam"].shape == (48, 64, 3)
    assert info["is_success"] is False and "placement" in info
    assert env.unwrapped.task == TASK
    env.close()


def test_episode_is_truncated_at_its_length_and_reports_signals() -> None:
    env = So101PickPlaceEnv(cameras=SMALL, episode_length=4)
    observation, _ = env.reset(seed=1)
    for step in range(4):
        observation, reward, terminated, truncated, info = env.step(observation["agent_pos"])
        assert reward == 0.0 and not terminated
        assert truncated == (step == 3)
        for key in ("is_success", "grasped", "lifted", "over_bowl", "released", "success"):
            assert key in info
    assert env.render().shape == (48, 64, 3)
    env.close()


def test_reset_restores_the_placement_that_reset_reported() -> None:
    env = gym.make(ENV_ID, cameras=SMALL)
    first, info = env.reset(seed=7)
    env.step(first["agent_pos"] + 10.0)
    placement = info["placement"]
    assert isinstance(placement, ScenePlacement) and placement.seed == 7
    # The README's round trip, and the placement's saved forms: JSON text and its dict.
    for form in (placement, placement.to_json(), json.loads(placement.to_json())):
        again, again_info = env.reset(options={"placement": form})
        assert again_info["placement"] == placement
        np.testing.assert_array_equal(again["agent_pos"], first["agent_pos"])
        np.testing.assert_array_equal(again["pixels"]["overhead_cam"], first["pixels"]["overhead_cam"])
    with pytest.raises(TypeError, match="ScenePlacement, its JSON text or its dict"):
        env.reset(options={"placement": 7})
    env.close()


def test_default_episode_length_is_the_evaluation_episode() -> None:
    for fps, steps in ((30, 450), (50, round(EPISODE_TIME_S * 50))):
        env = So101PickPlaceEnv(cameras=SMALL, fps=fps)
        assert env.episode_length == steps
        env.close()


def test_action_space_is_dataset_units() -> None:
    env = So101PickPlaceEnv(cameras=SMALL)
    low, high = env.action_space.low, env.action_space.high
    np.testing.assert_allclose([low[0], high[0]], [-110.0, 110.0], atol=0.01)
    np.testing.assert_allclose([low[5], high[5]], [0.0, 100.0], atol=1e-4)
    env.close()
