"""The pick-and-place task as a LeRobot environment, so that LeRobot's own evaluator runs it.

    lerobot-eval --env.type=so101_pickplace --env.discover_packages_path=sim --policy.path=...

Importing this module registers ``so101_pickplace`` with LeRobot's ``EnvConfig`` registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.envs.configs import EnvConfig

from sim.env import ENV_ID, So101PickPlaceEnv
from sim.scene import CameraConfig


@EnvConfig.register_subclass("so101_pickplace")
@dataclass
class So101PickPlaceEnvConfig(EnvConfig):
    task: str | None = "PickPlace-v0"
    fps: int = 30
    episode_length: int = 450
    cameras: list[str] = field(default_factory=lambda: ["overhead_cam", "wrist_cam"])
    """Robot cameras, as ``observation.images.<name>``; they must match the policy's image inputs."""
    observation_width: int = 640
    observation_height: int = 480
    render_profile: str = "fast"
    brick: str = "2x4"
    robot_xml: str | None = None

    def __post_init__(self) -> None:
        self.features = {
            "action": PolicyFeature(type=FeatureType.ACTION, shape=(6,)),
            "agent_pos": PolicyFeature(type=FeatureType.STATE, shape=(6,)),
        }
        self.features_map = {"action": "action", "agent_pos": "observation.state"}
        for name in self.cameras:
            key = f"pixels/{name}"
            self.features[key] = PolicyFeature(
                type=FeatureType.VISUAL, shape=(self.observation_height, self.observation_width, 3)
            )
            self.features_map[key] = f"observation.images.{name}"

    @property
    def package_name(self) -> str:
        return "sim.env"

    @property
    def gym_id(self) -> str:
        return ENV_ID

    @property
    def gym_kwargs(self) -> dict:
        return {
            "cameras": [
                CameraConfig(name, self.observation_width, self.observation_height) for name in self.cameras
            ],
            "render_profile": self.render_profile,
            "episode_length": self.episode_length,
            # Consumed by gym.make's TimeLimit wrapper, whose attribute LeRobot's rollout reads.
            "max_episode_steps": self.episode_length,
            "fps": self.fps,
            "brick": self.brick,
            "robot_xml": self.robot_xml,
        }


__all__ = ["So101PickPlaceEnv", "So101PickPlaceEnvConfig"]
