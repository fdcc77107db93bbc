"""Configuration of the simulated robot camera as a LeRobot camera (``--robot.cameras`` entry ``type: so101_sim``).

Importing this module registers ``so101_sim`` with LeRobot's ``CameraConfig`` registry, as LeRobot's own
``opencv`` and ``intelrealsense`` cameras register themselves. The camera itself is
``so101.sim.lerobot_camera.So101SimCamera``: LeRobot 0.4.4's ``make_cameras_from_configs`` finds it from this module's
name (``config_<x>`` -> ``<x>``) and the class name without ``Config``, as for the ``so101_sim`` robot.

    --robot.cameras "{overhead_cam: {type: so101_sim, scene_camera: overhead_cam, pose_feed: /tmp/rig/pose}}"
"""

from __future__ import annotations

from dataclasses import dataclass

from lerobot.cameras.configs import CameraConfig

from so101.sim.rendering import RenderProfile
from so101.sim.scene import ROBOT_CAMERA_NAMES


@CameraConfig.register_subclass("so101_sim")
@dataclass
class So101SimCameraConfig(CameraConfig):
    """A scene camera rendering the arm where the emulated follower's servos are (``so101 emulate follower``)."""

    scene_camera: str = "overhead_cam"
    """The camera of the scene to render: ``overhead_cam``, ``wrist_cam`` or ``front_cam``."""
    pose_feed: str | None = None
    """The emulated follower's pose feed (printed by ``so101 emulate follower``); None: the arm at its start pose."""
    seed: int = 0
    """Scene seed: where the brick and the bowl are."""
    render_profile: str = "fast"
    """``fast`` or ``quality`` (``so101.sim.rendering``)."""
    brick: str = "2x4"
    """``2x4`` or ``2x2`` Duplo brick."""
    max_age_ms: float = 500.0
    """A pose older than this is a stale frame (``read_latest`` raises TimeoutError, as a hung camera does)."""

    def __post_init__(self) -> None:
        self.fps = 30 if self.fps is None else self.fps
        self.width = 640 if self.width is None else self.width
        self.height = 480 if self.height is None else self.height
        if self.scene_camera not in ROBOT_CAMERA_NAMES:
            raise ValueError(
                f"scene_camera {self.scene_camera!r} is not a camera of the scene; "
                f"use one of {', '.join(ROBOT_CAMERA_NAMES)}"
            )
        if self.render_profile not in ("fast", "quality"):
            raise ValueError(f"render_profile must be fast or quality, got {self.render_profile!r}")

    @property
    def profile(self) -> RenderProfile:
        return "quality" if self.render_profile == "quality" else "fast"
