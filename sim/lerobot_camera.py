"""The simulated robot camera as a LeRobot camera: the scene rendered with the arm where the follower's servos are.

With ``so101 emulate follower`` (``so101.teleop.feetech.follower_rig``) it completes a follower rig without hardware:
LeRobot's ``SO101Follower`` drives the emulated servos, and each of its cameras renders the simulated scene posed
from the servos' present positions, read from the rig's pose feed (``so101.sim.pose_feed``). Reads render
at once, on the caller's thread (MuJoCo's GL contexts belong to one thread, ``so101.sim.gl_context``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from lerobot.cameras.camera import Camera

from so101.sim.config_lerobot_camera import So101SimCameraConfig
from so101.sim.pose_feed import read_pose
from so101.sim.rendering import CameraRenderer
from so101.sim.scene import CameraConfig, SceneConfig
from so101.sim.simulator import START_POSE, So101Sim


class So101SimCamera(Camera):
    """One scene camera of its own copy of the scene, posed from the pose feed at each read."""

    def __init__(self, config: So101SimCameraConfig) -> None:
        super().__init__(config)
        self.config = config
        self._sim: So101Sim | None = None
        self._renderer: CameraRenderer | None = None

    def __str__(self) -> str:
        return f"So101SimCamera({self.config.scene_camera})"

    @property
    def is_connected(self) -> bool:
        return self._renderer is not None

    @staticmethod
    def find_cameras() -> list[dict[str, Any]]:
        return [{"type": "so101_sim", "scene_camera": name} for name in ("overhead_cam", "wrist_cam", "front_cam")]

    def connect(self, warmup: bool = True) -> None:
        config = self.config
        sim = So101Sim(SceneConfig(brick=config.brick, fps=int(config.fps or 30)))  # type: ignore[arg-type]
        sim.reset(config.seed)
        self._renderer = CameraRenderer(
            sim.model, [CameraConfig(config.scene_camera, int(config.width), int(config.height))], config.profile
        )
        self._sim = sim
        if warmup:
            self.read()

    def _pose(self, max_age_ms: float | None) -> np.ndarray:
        if self.config.pose_feed is None:
            return START_POSE
        pose, stamp = read_pose(self.config.pose_feed)
        age_ms = 1000 * (time.time() - stamp)
        if max_age_ms is not None and age_ms > max_age_ms:
            raise TimeoutError(f"{self}: the latest frame is {age_ms:.0f} ms old (max {max_age_ms:.0f} ms)")
        return pose

    def _render(self, max_age_ms: float | None) -> np.ndarray:
        if self._sim is None or self._renderer is None:
            from lerobot.utils.errors import DeviceNotConnectedError

            raise DeviceNotConnectedError(f"{self} is not connected")
        sim = self._sim
        sim.place_arm(self._pose(max_age_ms))
        return self._renderer.render(sim.data)[self.config.scene_camera]

    def read(self) -> np.ndarray:
        """An RGB uint8 (height, width, 3) frame of the arm now."""
        return self._render(self.config.max_age_ms)

    def async_read(self, timeout_ms: float = 200.0) -> np.ndarray:
        return self._render(self.config.max_age_ms)

    def read_latest(self, max_age_ms: int = 500) -> np.ndarray:
        return self._render(min(max_age_ms, self.config.max_age_ms))

    def disconnect(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
        self._renderer = None
        self._sim = None
