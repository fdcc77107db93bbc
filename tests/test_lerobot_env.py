"""The task as a LeRobot environment: LeRobot's own factory, preprocessing and evaluator run it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from so101.sim.lerobot_env import So101PickPlaceEnvConfig
from so101.sim.scene import CameraConfig


def test_lerobot_make_env_and_preprocessing() -> None:
    from lerobot.envs.factory import make_env
    from lerobot.envs.utils import preprocess_observation

    config = So101PickPlaceEnvConfig(observation_width=64, observation_height=48, episode_length=3)
    envs = make_env(config, n_envs=2)
    vector_env = envs["so101_pickplace"][0]
    observation, _ = vector_env.reset(seed=[0, 1])
    batch = preprocess_observation(observation)
    assert batch["observation.state"].shape == (2, 6)
    assert batch["observation.images.overhead_cam"].shape == (2, 3, 48, 64)
    assert not np.array_equal(observation["pixels"]["overhead_cam"][0], observation["pixels"]["overhead_cam"][1])
    vector_env.close()


def test_end_effector_actions_through_lerobots_factory() -> None:
    from lerobot.envs.factory import make_env

    config = So101PickPlaceEnvConfig(
        cameras=["overhead_cam"], observation_width=32, observation_height=24, episode_length=3, ee_rotation="quat"
    )
    assert config.features["action"].shape == (8,)
    vector_env = make_env(config, n_envs=1)["so101_pickplace"][0]
    vector_env.reset(seed=[0])
    # A reachable pose in front of the base, gripper half open: the controller inside reaches toward it.
    action = np.array([[0.25, 0.0, 0.10, 0.0, 1.0, 0.0, 0.0, 50.0]], dtype=np.float32)
    _, _, _, _, info = vector_env.step(action)
    assert "ik_failures" in info
    vector_env.close()


def test_config_is_validated_as_the_option_blocks_with_the_env_flags() -> None:
    config = So101PickPlaceEnvConfig(fps=50)
    assert config.episode_length == 750  # 15 s of sim time
    assert config.gym_kwargs["cameras"][0] == CameraConfig("overhead_cam", 640, 480)
    cases = {
        "--env.observation_width and --env.observation_height": {"observation_width": -10},
        "--env.render_profile": {"render_profile": "ultra"},
        "--env.cameras must list": {"cameras": []},
        "unknown camera 'side_cam'": {"cameras": ["side_cam"]},
        "--env.brick": {"brick": "3x3"},
        "--env.episode_length": {"episode_length": 0},
        "--env.ee_rotation": {"ee_rotation": "euler"},
    }
    for message, options in cases.items():
        with pytest.raises(ValueError, match=re.escape(message)):
            So101PickPlaceEnvConfig(**options)


def _save_tiny_random_act(directory: Path, config: So101PickPlaceEnvConfig) -> None:
    from lerobot.configs.types import FeatureType
    from lerobot.envs.utils import env_to_policy_features
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.factory import make_pre_post_processors

    features = env_to_policy_features(config)
    act_config = ACTConfig(
        input_features={k: v for k, v in features.items() if v.type is not FeatureType.ACTION},
        output_features={k: v for k, v in features.items() if v.type is FeatureType.ACTION},
        dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_decoder_layers=1,
        latent_dim=8, n_vae_encoder_layers=1, chunk_size=4, n_action_steps=4,
        pretrained_backbone_weights=None, device="cpu",
    )  # fmt: skip
    policy = ACTPolicy(act_config)
    preprocessor, postprocessor = make_pre_post_processors(act_config, dataset_stats=None)
    for part in (policy, preprocessor, postprocessor):
        part.save_pretrained(directory)


def _lerobot_eval(tmp_path: Path, *options: str) -> dict:
    """Run stock ``lerobot-eval`` on a tiny random ACT for 2 episodes of 6 steps; its ``eval_info.json``."""
    config = So101PickPlaceEnvConfig(observation_width=64, observation_height=48)
    _save_tiny_random_act(tmp_path / "policy", config)
    command = [
        str(Path(sys.executable).with_name("lerobot-eval")),
        f"--policy.path={tmp_path / 'policy'}",
        "--policy.device=cpu",
        "--env.type=so101_pickplace",
        "--env.discover_packages_path=so101.sim",
        "--env.observation_width=64",
        "--env.observation_height=48",
        "--env.episode_length=6",
        "--eval.n_episodes=2",
        *options,
        f"--output_dir={tmp_path / 'eval'}",
    ]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((tmp_path / "eval" / "eval_info.json").read_text())


def test_lerobot_eval_runs_our_task(tmp_path: Path) -> None:
    info = _lerobot_eval(tmp_path, "--eval.batch_size=1")
    assert info["overall"]["n_episodes"] == 2
    assert info["overall"]["pc_success"] == 0.0  # a random policy does not place the brick


def test_lerobot_eval_with_async_envs_forks_workers_that_render(tmp_path: Path) -> None:
    # Gymnasium's AsyncVectorEnv forks its workers after building one env in the parent: no GL context may exist
    # there yet (the renderer opens it at the first render), or Mesa deadlocks the workers at "Making environment".
    info = _lerobot_eval(tmp_path, "--eval.batch_size=2", "--eval.use_async_envs=true")
    assert info["overall"]["n_episodes"] == 2
    videos = [Path(path) for path in info["overall"]["video_paths"]]
    assert len(videos) == 2 and all(video.stat().st_size > 0 for video in videos)  # frames rendered by the workers
