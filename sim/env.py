"""Gymnasium environment of the SO-101 pick-and-place task, as LeRobot's evaluator expects it.

Observation: ``{"agent_pos": (6,) float32 joint positions in dataset units, "pixels": {camera: (H, W, 3) uint8}}``.
Action: (6,) joint targets in dataset units (degrees; gripper 0..100). One step is 1/fps s of sim time.
``info`` holds ``is_success`` and every task signal (and, from ``reset``, the placement as JSON); an episode terminates on success and is truncated at
``episode_length`` steps. ``reset(seed=s)`` draws the scene from ``s``; ``reset(options={"placement": ...})``
restores a recorded one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from kinematics.units import radians_to_dataset
from sim.randomization import RandomizationConfig, ScenePlacement
from sim.rendering import CameraRenderer, RenderProfile
from sim.scene import BrickSize, CameraConfig, SceneConfig, default_cameras
from sim.simulator import So101Sim

ENV_ID = "so101/PickPlace-v0"
TASK = "Pick up the Duplo brick and place it in the bowl."
"""The task string recorded in datasets; policies conditioned on language must be given exactly this."""


class So101PickPlaceEnv(gym.Env):
    """Pick up the Duplo brick and place it in the bowl, with the SO-101 in MuJoCo."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        cameras: list[CameraConfig] | None = None,
        render_profile: RenderProfile = "fast",
        episode_length: int = 450,
        fps: int = 30,
        brick: BrickSize = "2x4",
        robot_xml: str | Path | None = None,
        randomization: RandomizationConfig | None = None,
        render_mode: str | None = "rgb_array",
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r} is not supported; use 'rgb_array'")
        if episode_length <= 0:
            raise ValueError(f"episode_length must be positive, got {episode_length}")
        self.sim = So101Sim(SceneConfig(robot_xml=robot_xml, brick=brick, fps=fps), randomization)
        self.cameras = list(cameras) if cameras is not None else default_cameras()
        self.renderer = CameraRenderer(self.sim.model, self.cameras, render_profile)
        self.render_mode = render_mode
        self.episode_length = episode_length
        self.task = TASK
        self.task_description = TASK
        self.metadata = {**self.metadata, "render_fps": fps}

        limits = self.sim.scene.limits
        low = radians_to_dataset(limits.lower, limits).astype(np.float32)
        high = radians_to_dataset(limits.upper, limits).astype(np.float32)
        self.action_space = gym.spaces.Box(low=low, high=high, dtype=np.float32)
        self.observation_space = gym.spaces.Dict(
            {
                "agent_pos": gym.spaces.Box(low=low, high=high, dtype=np.float32),
                "pixels": gym.spaces.Dict(
                    {
                        camera.name: gym.spaces.Box(0, 255, (camera.height, camera.width, 3), dtype=np.uint8)
                        for camera in self.cameras
                    }
                ),
            }
        )
        self._last_images: dict[str, np.ndarray] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        placement = (options or {}).get("placement")
        if placement is None:
            scene_seed = seed if seed is not None else int(self.np_random.integers(2**31))
            placement = self.sim.sample_placement(scene_seed)
        elif isinstance(placement, dict):
            placement = ScenePlacement.from_dict(placement)
        self.sim.reset(placement)
        return self._observation(), {**self._info(), "placement": placement.to_json()}

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        signals = self.sim.step(np.asarray(action, dtype=np.float64))
        terminated = signals.success
        truncated = not terminated and self.sim.steps >= self.episode_length
        return self._observation(), float(signals.success), terminated, truncated, self._info()

    def render(self) -> np.ndarray:
        """The first camera's latest image."""
        return self._last_images[self.cameras[0].name]

    def close(self) -> None:
        self.renderer.close()

    def _observation(self) -> dict[str, Any]:
        self._last_images = self.renderer.render(self.sim.data)
        return {"agent_pos": self.sim.joint_positions().astype(np.float32), "pixels": self._last_images}

    def _info(self) -> dict[str, Any]:
        signals = self.sim.signals
        return {"is_success": signals.success, **signals.as_dict()}


def register() -> None:
    """Register ``ENV_ID`` with Gymnasium (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="sim.env:So101PickPlaceEnv")


register()
