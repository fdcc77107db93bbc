"""The option blocks that every command shares: the scene, the robot cameras and the episode length.

Each concept has one name on every command line (``--scene.brick``, ``--cameras.width``, ...), one default and one
validation, here. Commands nest these dataclasses as fields named ``scene`` and ``cameras``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from so101.errors import ConfigError
from so101.sim.rendering import RENDER_PROFILES, RenderProfile
from so101.sim.scene import BRICK_SIZES, ROBOT_CAMERA_NAMES, BrickSize, CameraConfig, SceneConfig

DEFAULT_CAMERAS: tuple[str, ...] = ("overhead_cam", "wrist_cam")
"""The robot cameras recorded and observed by default."""

EPISODE_TIME_S = 15.0
"""Length of an evaluation episode (s of sim time); ``episode_steps`` turns it into control steps. Recording
allows 30 s (``so101 record --episode_time_s``)."""


def episode_steps(fps: int, seconds: float = EPISODE_TIME_S) -> int:
    """Control steps in ``seconds`` of sim time at ``fps``."""
    return max(1, round(seconds * fps))


@dataclass
class SceneOptions:
    """What the scene is made of (``--scene.brick``, ``--scene.robot_xml``, ``--scene.fps``)."""

    brick: BrickSize = "2x4"
    """Duplo brick: ``2x4`` or ``2x2``."""
    robot_xml: Path | None = None
    """Another SO-101 MJCF with LeRobot's joint names and a ``gripperframe`` site (e.g. TheRobotStudio's
    so101_new_calib.xml); default: the workbench's own model."""
    fps: int = 30
    """Control rate (Hz): one action, one observation, one recorded frame per 1/fps s of sim time."""

    def __post_init__(self) -> None:
        self.scene_config()  # validates brick, fps and the model path once, with the messages of SceneConfig

    def scene_config(self) -> SceneConfig:
        return SceneConfig(robot_xml=self.robot_xml, brick=self.brick, fps=self.fps)


@dataclass
class CameraOptions:
    """The robot cameras and how they render (``--cameras.names``, ``--cameras.width``, ...)."""

    names: list[str] = field(default_factory=lambda: list(DEFAULT_CAMERAS))
    """Scene cameras, observed as ``observation.images.<name>``: any of overhead_cam, wrist_cam, front_cam."""
    width: int = 640
    """Image width (pixels) of every camera."""
    height: int = 480
    """Image height (pixels) of every camera."""
    render_profile: RenderProfile = "fast"
    """``fast`` (no shadows or antialiasing: quick on software GL) or ``quality`` (use it with a GPU). Evaluate a
    policy in the profile its data was recorded in."""

    def __post_init__(self) -> None:
        if not self.names or len(set(self.names)) != len(self.names):
            cameras = ", ".join(ROBOT_CAMERA_NAMES)
            raise ConfigError("cameras.names", self.names, f"must list distinct cameras of {cameras}")
        if self.render_profile not in RENDER_PROFILES:
            profiles = ", ".join(RENDER_PROFILES)
            raise ConfigError("cameras.render_profile", self.render_profile, f"must be one of {profiles}")
        if self.width < 16 or self.height < 16:
            raise ConfigError(
                ("cameras.width", "cameras.height"), (self.width, self.height), "must be at least 16",
                shown=f"{self.width}x{self.height}",
            )  # fmt: skip
        self.configs()  # validates the names once, with the message of CameraConfig

    def configs(self) -> list[CameraConfig]:
        return [CameraConfig(name, self.width, self.height) for name in self.names]


__all__ = [
    "BRICK_SIZES",
    "DEFAULT_CAMERAS",
    "EPISODE_TIME_S",
    "CameraOptions",
    "SceneOptions",
    "episode_steps",
]
