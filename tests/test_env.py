"""The Gymnasium environment: spaces, time limit, success info, registration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import gymnasium as gym
import numpy as np
import pytest

from so101.kinematics.ee_convert import JointsToEE
from so101.kinematics.ee_features import ROTATION_ENCODINGS, EELayout
from so101.sim.env import ENV_ID, TASK, So101PickPlaceEnv
from so101.sim.options import EPISODE_TIME_S
from so101.sim.randomization import ScenePlacement
from so101.sim.scene import CameraConfig

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


NORMALIZE_ADVICE = "we recommend using a symmetric and normalized space"
"""check_env's advice to RL libraries, which dataset units (degrees, gripper 0..100) cannot follow; RescaleAction
follows it, given finite bounds (test_every_action_layout_has_finite_bounds_and_rescales)."""


@contextmanager
def no_warnings(allowed: tuple[str, ...] = ()) -> Iterator[None]:
    """Fails on any warning raised inside, except those containing an ``allowed`` text."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    messages = [str(w.message) for w in caught if not any(text in str(w.message) for text in allowed)]
    assert not messages, messages


def bang_bang_actions(env: So101PickPlaceEnv, steps: int, seed: int) -> Iterator[np.ndarray]:
    """Every joint commanded to one end of its range or the other, switching at random every few steps."""
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    ends = rng.integers(0, 2, size=6)
    for _ in range(steps):
        ends = np.where(rng.random(6) < 0.15, 1 - ends, ends)
        yield np.where(ends == 1, high, low).astype(np.float32)


def test_agent_pos_stays_in_its_space_on_a_bang_bang_walk() -> None:
    from gymnasium.utils.passive_env_checker import env_step_passive_checker

    env = So101PickPlaceEnv(cameras=[], episode_length=150)
    env.reset(seed=0)
    limits_low, limits_high = env.action_space.low, env.action_space.high
    overshoots = 0
    with no_warnings():
        for action in bang_bang_actions(env, 150, seed=0):
            observation, *_ = env_step_passive_checker(env, action)
            assert env.observation_space.contains(observation)
            joints = env.sim.joint_positions()
            overshoots += bool(np.any(joints < limits_low) or np.any(joints > limits_high))
    assert overshoots > 0  # the walk drives joints past their soft limits, which the space must cover
    env.close()


@pytest.mark.parametrize("rotation", [None, *ROTATION_ENCODINGS])
def test_every_action_layout_has_finite_bounds_and_rescales(rotation: str | None) -> None:
    from gymnasium.utils.env_checker import check_space_limit

    layout = EELayout(rotation) if rotation is not None else None
    env = So101PickPlaceEnv(cameras=[], ee_layout=layout)
    env.reset(seed=0)
    space = env.action_space
    assert np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))  # stable-baselines3's rule
    joints = env.sim.commanded_targets()
    start = joints if layout is None else JointsToEE(env.sim.model, layout).convert(joints[None])[0]
    assert space.contains(start.astype(np.float32))
    rescaled = gym.wrappers.RescaleAction(env, -1.0, 1.0)
    with no_warnings():
        check_space_limit(rescaled.action_space, "action")
    # The start pose, as a client of the rescaled space sends it, holds the arm where it is.
    normalized = 2.0 * (start - space.low) / (space.high - space.low) - 1.0
    _, _, _, _, info = rescaled.step(normalized.astype(np.float32))
    assert info.get("ik_ok", True)
    np.testing.assert_allclose(env.sim.commanded_targets(), joints, atol=0.05)
    env.close()


def test_an_env_without_cameras_observes_the_joints_only() -> None:
    env = gym.make(ENV_ID, cameras=[], episode_length=3)
    observation, _ = env.reset(seed=0)
    assert set(observation) == {"agent_pos"} and env.observation_space.contains(observation)
    observation, *_ = env.step(observation["agent_pos"])
    assert observation["agent_pos"].shape == (6,)
    assert env.unwrapped.render_mode is None and env.unwrapped.render() is None
    env.close()


def test_check_env_and_the_passive_checker_pass_over_a_scripted_episode() -> None:
    from gymnasium.utils.env_checker import check_env
    from gymnasium.utils.passive_env_checker import env_step_passive_checker

    from so101.teleop.scripted_expert import ScriptedExpert

    env = gym.make(ENV_ID, cameras=[CameraConfig("overhead_cam", 32, 24)]).unwrapped
    with no_warnings(allowed=(NORMALIZE_ADVICE,)):
        check_env(env)
    env.reset(seed=2)
    expert = ScriptedExpert()
    expert.start_episode(env.sim)
    with no_warnings():
        for _ in range(env.episode_length):
            observation, _, terminated, truncated, info = env_step_passive_checker(env, expert.next_action(env.sim))
            assert env.observation_space.contains(observation)
            if terminated or truncated:
                break
    assert info["is_success"]
    env.close()


@pytest.mark.parametrize("backend", ["egl", "osmesa"])
def test_async_vector_env_forks_and_renders_the_frames_of_a_sync_one(backend: str) -> None:
    # In a child process (this module is its program): MUJOCO_GL takes effect when MuJoCo is first imported.
    environment = {key: value for key, value in os.environ.items() if key != "PYOPENGL_PLATFORM"}
    environment.update(MUJOCO_GL=backend, PYTHONPATH=REPO_ROOT)
    result = subprocess.run(
        [sys.executable, "-X", "faulthandler", __file__, "async_equals_sync"],
        capture_output=True, text=True, env=environment, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "frames equal" in result.stdout, result.stdout


def _async_equals_sync() -> None:
    """Step an ``AsyncVectorEnv`` (default start method: fork) and a ``SyncVectorEnv`` of 2 envs from the same seeds
    with the same actions; their observations and ``render`` frames must be equal."""
    import multiprocessing

    from so101.sim import gl_context

    assert multiprocessing.get_start_method() == "fork", multiprocessing.get_start_method()

    def make() -> So101PickPlaceEnv:
        return So101PickPlaceEnv(cameras=SMALL, episode_length=8)

    async_env = gym.vector.AsyncVectorEnv([make, make])  # builds one env here, for its spaces, then forks
    observed_async, _ = async_env.reset(seed=[3, 4])
    assert gl_context._driver_pid is None, "the parent opened a GL context"
    sync_env = gym.vector.SyncVectorEnv([make, make])
    observed_sync, _ = sync_env.reset(seed=[3, 4])
    rng = np.random.default_rng(0)
    low, high = sync_env.single_action_space.low, sync_env.single_action_space.high
    for step in range(4):
        for name in ("overhead_cam", "wrist_cam"):
            frames = observed_async["pixels"][name]
            assert np.array_equal(frames, observed_sync["pixels"][name]), (step, name)
            assert not np.array_equal(frames[0], frames[1]), "the two seeds give the same scene"
        assert np.array_equal(observed_async["agent_pos"], observed_sync["agent_pos"])
        rendered = async_env.call("render")
        for index, env in enumerate(sync_env.envs):
            assert np.array_equal(rendered[index], env.render())
        action = rng.uniform(low, high, size=(2, len(low))).astype(np.float32)
        observed_async, *_ = async_env.step(action)
        observed_sync, *_ = sync_env.step(action)
    async_env.close()
    sync_env.close()
    print("frames equal")


if __name__ == "__main__":
    {"async_equals_sync": _async_equals_sync}[sys.argv[1]]()
