"""The pick-and-place task as a LeRobot environment, so that LeRobot's own evaluator runs it.

    lerobot-eval --env.type=so101_pickplace --env.discover_packages_path=so101.sim --policy.path=...

A policy trained on an end-effector dataset (``so101 convert-ee``) is evaluated with ``--env.ee_rotation`` set to the
dataset's rotation encoding (``rotvec``, ``quat`` or ``6d``): the env then takes ``ee.*`` actions and turns them into
joint targets through the end-effector controller.

With ``--eval.use_async_envs=true`` each worker process opens its own GL context at its first render (see
``so101.sim.rendering``); LeRobot 0.4.4's rollout needs ``so101.lerobot_compat.ask_async_workers_for_tasks`` for
such vector envs, which importing this module applies.

Importing this module registers ``so101_pickplace`` with LeRobot's ``EnvConfig`` registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.envs.configs import EnvConfig

from so101.errors import ConfigError
from so101.kinematics.ee_features import ROTATION_ENCODINGS, EELayout
from so101.lerobot_compat import ask_async_workers_for_tasks
from so101.sim.env import ENV_ID, So101PickPlaceEnv
from so101.sim.lerobot_options import PluginFlags, camera_options, scene_options
from so101.sim.options import DEFAULT_CAMERAS, CameraOptions, SceneOptions, episode_steps

# LeRobot's gym env configs name the image size observation_width/height; the other names are the workbench's.
_FLAGS = PluginFlags(
    "env",
    {
        "scene.brick": "brick",
        "scene.robot_xml": "robot_xml",
        "scene.fps": "fps",
        "cameras.names": "cameras",
        "cameras.width": "observation_width",
        "cameras.height": "observation_height",
        "cameras.render_profile": "render_profile",
    },
)

ask_async_workers_for_tasks()


@EnvConfig.register_subclass("so101_pickplace")
@dataclass
class So101PickPlaceEnvConfig(EnvConfig):
    """Options of the pick-and-place env (``--env.cameras``, ``--env.observation_width``, ...)."""

    task: str | None = "PickPlace-v0"
    fps: int = 30
    """Control rate (Hz): one action, one observation per 1/fps s of sim time."""
    episode_length: int | None = None
    """Control steps before an episode counts as failed; default ``EPISODE_TIME_S`` (15 s) of sim time at fps."""
    cameras: list[str] = field(default_factory=lambda: list(DEFAULT_CAMERAS))
    """Robot cameras, as ``observation.images.<name>``; they must match the policy's image inputs."""
    observation_width: int = 640
    """Image width (pixels) of every camera."""
    observation_height: int = 480
    """Image height (pixels) of every camera."""
    render_profile: str = "fast"
    """``fast`` or ``quality``: evaluate a policy in the profile its data was recorded in."""
    brick: str = "2x4"
    """Duplo brick: ``2x4`` or ``2x2``."""
    robot_xml: str | None = None
    """Another SO-101 MJCF with LeRobot's joint names; default: the workbench's own model."""
    ee_rotation: str | None = None
    """End-effector actions in this rotation encoding (``rotvec``, ``quat``, ``6d``); default: joint actions."""

    def __post_init__(self) -> None:
        self.scene_options()
        images = self.camera_options()
        if self.episode_length is None:
            self.episode_length = episode_steps(self.fps)
        if self.episode_length < 1:
            raise ConfigError("env.episode_length", self.episode_length, "must be at least 1")
        action_dim = 6 if self.ee_layout() is None else self.ee_layout().dim
        self.features = {
            "action": PolicyFeature(type=FeatureType.ACTION, shape=(action_dim,)),
            "agent_pos": PolicyFeature(type=FeatureType.STATE, shape=(6,)),
        }
        self.features_map = {"action": "action", "agent_pos": "observation.state"}
        for camera in images.configs():
            key = f"pixels/{camera.name}"
            self.features[key] = PolicyFeature(type=FeatureType.VISUAL, shape=(camera.height, camera.width, 3))
            self.features_map[key] = f"observation.images.{camera.name}"

    def scene_options(self) -> SceneOptions:
        """The scene, validated as ``so101`` commands validate ``--scene.*``."""
        return scene_options(self.brick, self.robot_xml, self.fps, _FLAGS)

    def camera_options(self) -> CameraOptions:
        """The robot cameras, validated as ``--cameras.*``."""
        return camera_options(
            self.cameras, self.observation_width, self.observation_height, self.render_profile, _FLAGS
        )

    def ee_layout(self) -> EELayout | None:
        """The end-effector action layout, or None for joint actions."""
        if self.ee_rotation is None:
            return None
        if self.ee_rotation not in ROTATION_ENCODINGS:
            raise ConfigError("env.ee_rotation", self.ee_rotation, f"must be one of {', '.join(ROTATION_ENCODINGS)}")
        return EELayout(rotation=self.ee_rotation)  # type: ignore[arg-type]

    @property
    def package_name(self) -> str:
        return "so101.sim.env"

    @property
    def gym_id(self) -> str:
        return ENV_ID

    @property
    def gym_kwargs(self) -> dict:
        scene, images = self.scene_options(), self.camera_options()
        return {
            "cameras": images.configs(),
            "render_profile": images.render_profile,
            "episode_length": self.episode_length,
            # Consumed by gym.make's TimeLimit wrapper, whose attribute LeRobot's rollout reads.
            "max_episode_steps": self.episode_length,
            "fps": scene.fps,
            "brick": scene.brick,
            "robot_xml": scene.robot_xml,
            "ee_layout": self.ee_layout(),
        }


__all__ = ["So101PickPlaceEnv", "So101PickPlaceEnvConfig"]
