"""Configuration of the simulated SO-101 follower as a LeRobot robot (``--robot.type=so101_sim``).

Importing this module registers ``so101_sim`` with LeRobot's ``RobotConfig`` registry. The robot itself is
``so101.sim.lerobot_robot.So101SimRobot``: LeRobot finds it from this module's name (``config_<x>`` -> ``<x>``) and
the class name without ``Config``, as it does for its own robots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lerobot.robots.config import RobotConfig

from so101.sim.lerobot_options import PluginFlags, camera_options, scene_options
from so101.sim.options import DEFAULT_CAMERAS, CameraOptions, SceneOptions

# A RobotConfig's ``cameras`` must hold physical camera configurations (LeRobot checks their width, height and fps),
# so the simulated cameras are camera_names/camera_width/camera_height, validated as --cameras.* of so101 commands.
_FLAGS = PluginFlags(
    "robot",
    {
        "scene.brick": "brick",
        "scene.robot_xml": "robot_xml",
        "scene.fps": "fps",
        "cameras.names": "camera_names",
        "cameras.width": "camera_width",
        "cameras.height": "camera_height",
        "cameras.render_profile": "render_profile",
    },
)


@RobotConfig.register_subclass("so101_sim")
@dataclass
class So101SimRobotConfig(RobotConfig):
    """Options of the simulated follower (``--robot.seed``, ``--robot.camera_names``, ...)."""

    seed: int = 0
    """Scene seed (brick and bowl placement) of the episode started on ``connect``."""
    fps: int = 30
    """Control rate (Hz): each ``send_action`` advances the sim by 1/fps s. Run LeRobot's loop at the same
    rate (``lerobot-teleoperate --fps=30``; ``lerobot-record --dataset.fps=30``) for real-time motion."""
    camera_names: list[str] = field(default_factory=lambda: list(DEFAULT_CAMERAS))
    """Scene cameras observed as ``observation.images.<name>``: ``overhead_cam``, ``wrist_cam``, ``front_cam``;
    none: ``[]``."""
    camera_width: int = 640
    """Image width (pixels) of every camera."""
    camera_height: int = 480
    """Image height (pixels) of every camera."""
    render_profile: str = "fast"
    """``fast`` or ``quality`` (see ``so101.sim.rendering``); policies must see the profile they were trained on."""
    brick: str = "2x4"
    """``2x4`` or ``2x2`` Duplo brick."""
    robot_xml: Path | None = None
    """Another SO-101 MJCF with LeRobot's joint names; default: the workbench's own model."""
    use_degrees: bool = True
    """Body joints in degrees, as LeRobot's SO-101 follower and leader by default; False: the older -100..100
    normalisation (pair it with ``--teleop.use_degrees=false``)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.scene_options()
        self.camera_options()

    def scene_options(self) -> SceneOptions:
        """The scene, validated as ``so101`` commands validate ``--scene.*``."""
        return scene_options(self.brick, self.robot_xml, self.fps, _FLAGS)

    def camera_options(self) -> CameraOptions | None:
        """The robot cameras, validated as ``--cameras.*``; None when ``camera_names`` is empty."""
        if not self.camera_names:
            return None
        return camera_options(self.camera_names, self.camera_width, self.camera_height, self.render_profile, _FLAGS)
