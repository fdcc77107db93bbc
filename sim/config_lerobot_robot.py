"""Configuration of the simulated SO-101 follower as a LeRobot robot (``--robot.type=so101_sim``).

Importing this module registers ``so101_sim`` with LeRobot's ``RobotConfig`` registry. The robot itself is
``sim.lerobot_robot.So101SimRobot``: LeRobot finds it from this module's name (``config_<x>`` -> ``<x>``) and
the class name without ``Config``, as it does for its own robots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lerobot.robots.config import RobotConfig


@RobotConfig.register_subclass("so101_sim")
@dataclass
class So101SimRobotConfig(RobotConfig):
    """Options of the simulated follower (``--robot.seed``, ``--robot.camera_names``, ...)."""

    seed: int = 0
    """Scene seed (brick and bowl placement) of the episode started on ``connect``."""
    fps: int = 30
    """Control rate (Hz): each ``send_action`` advances the sim by 1/fps s. Run LeRobot's loop at the same
    rate (``lerobot-teleoperate --fps=30``; ``lerobot-record --dataset.fps=30``) for real-time motion."""
    camera_names: list[str] = field(default_factory=lambda: ["overhead_cam", "wrist_cam"])
    """Scene cameras observed as ``observation.images.<name>``: ``overhead_cam``, ``wrist_cam``, ``front_cam``.
    Not called ``cameras``: LeRobot expects that field to hold physical camera configurations."""
    camera_width: int = 640
    camera_height: int = 480
    render_profile: str = "fast"
    """``fast`` or ``quality`` (see ``sim.rendering``); policies must see the profile they were trained on."""
    brick: str = "2x4"
    """``2x4`` or ``2x2`` Duplo brick."""
    robot_xml: Path | None = None
    """Another SO-101 MJCF with LeRobot's joint names; default: the workbench's own model."""
    use_degrees: bool = True
    """Body joints in degrees, as LeRobot's SO-101 follower and leader by default; False: the older -100..100
    normalisation (pair it with ``--teleop.use_degrees=false``)."""
