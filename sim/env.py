"""Gymnasium environment of the SO-101 pick-and-place task, as LeRobot's evaluator expects it.

Observation: ``{"agent_pos": (6,) float32 joint positions in dataset units, "pixels": {camera: (H, W, 3) uint8}}``.
Action: (6,) joint targets in dataset units (degrees; gripper 0..100), or with ``ee_layout`` an end-effector pose in
that layout (``so101.kinematics.ee_features``: TCP in the robot base frame, metres, plus the gripper), which the
end-effector controller inside turns into joint targets, no body joint moving more than its step bound per step
(``so101.kinematics.ee_action``). One step is 1/fps s of sim time.
``info`` holds ``is_success`` and every task signal, and from ``reset`` the scene's ``placement`` (a
``ScenePlacement``); with end-effector actions also ``ik_ok`` (this step's pose was reached) and ``ik_failures``
(steps of the episode whose pose the IK could not reach). An episode terminates on success and is truncated at
``episode_length`` steps.

``reset(seed=s)`` draws the scene from ``s``; ``reset(options={"placement": p})`` restores a scene, where ``p`` is
the ``info["placement"]`` of an earlier reset, its JSON text (``p.to_json()``, as ``so101 rollout`` saves it) or
its dict (as datasets record it)::

    observation, info = env.reset(seed=3)
    again, _ = env.reset(options={"placement": info["placement"]})   # the same first observation
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from so101.kinematics.ee_features import EELayout
from so101.kinematics.units import radians_to_dataset
from so101.sim.options import episode_steps
from so101.sim.randomization import RandomizationConfig, ScenePlacement
from so101.sim.rendering import CameraRenderer, RenderProfile
from so101.sim.scene import BrickSize, CameraConfig, SceneConfig, default_cameras
from so101.sim.simulator import So101Sim

ENV_ID = "so101/PickPlace-v0"
TASK = "Pick up the Duplo brick and place it in the bowl."
"""The task string recorded in datasets; policies conditioned on language must be given exactly this."""


class So101PickPlaceEnv(gym.Env):
    """Pick up the Duplo brick and place it in the bowl, with the SO-101 in MuJoCo.

    Args:
        cameras: the robot cameras observed; default overhead_cam and wrist_cam at 640x480.
        render_profile: ``fast`` or ``quality`` (see ``so101.sim.rendering``).
        episode_length: control steps before truncation; default ``so101.sim.options.EPISODE_TIME_S`` of sim time.
        fps: control rate (Hz).
        brick: ``2x4`` or ``2x2`` Duplo brick.
        robot_xml: another SO-101 MJCF; default the workbench's own model.
        randomization: where the brick and bowl may be placed.
        render_mode: ``rgb_array`` (the first camera's image) or None.
        ee_layout: take end-effector actions in this layout; None takes joint targets.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        cameras: list[CameraConfig] | None = None,
        render_profile: RenderProfile = "fast",
        episode_length: int | None = None,
        fps: int = 30,
        brick: BrickSize = "2x4",
        robot_xml: str | Path | None = None,
        randomization: RandomizationConfig | None = None,
        render_mode: str | None = "rgb_array",
        ee_layout: EELayout | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r} is not supported; use 'rgb_array'")
        episode_length = episode_steps(fps) if episode_length is None else episode_length
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
        self.ee = None
        if ee_layout is not None:
            from so101.kinematics.ee_action import EEActionAdapter

            self.ee = EEActionAdapter(self.sim.model, ee_layout)
            # Poses are unbounded numbers to the space (a target out of reach is the controller's to report); only
            # the gripper has a range.
            ee_low = np.full(ee_layout.dim, -np.inf, dtype=np.float32)
            ee_high = np.full(ee_layout.dim, np.inf, dtype=np.float32)
            ee_low[-1], ee_high[-1] = 0.0, 100.0
            self.action_space = gym.spaces.Box(low=ee_low, high=ee_high, dtype=np.float32)
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
        self._ik_failures = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        placement = (options or {}).get("placement")
        if placement is None:
            scene_seed = seed if seed is not None else int(self.np_random.integers(2**31))
            placement = self.sim.sample_placement(scene_seed)
        elif isinstance(placement, str):
            placement = ScenePlacement.from_json(placement)
        elif isinstance(placement, dict):
            placement = ScenePlacement.from_dict(placement)
        elif not isinstance(placement, ScenePlacement):
            raise TypeError(
                f"options['placement'] is a ScenePlacement, its JSON text or its dict, got {type(placement).__name__}"
            )
        self.sim.reset(placement)
        self._ik_failures = 0
        if self.ee is not None:
            self.ee.reset(self.sim.commanded_targets())
        return self._observation(), {**self._info(), "placement": placement}

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        action = np.asarray(action, dtype=np.float64)
        ik: dict[str, Any] = {}
        if self.ee is not None:
            result = self.ee.to_joint_targets(action)
            action = result.targets
            self._ik_failures += not result.ok
            ik = {"ik_ok": result.ok, "ik_failures": self._ik_failures}
        signals = self.sim.step(action)
        terminated = signals.success
        truncated = not terminated and self.sim.steps >= self.episode_length
        return self._observation(), float(signals.success), terminated, truncated, {**self._info(), **ik}

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
        gym.register(id=ENV_ID, entry_point="so101.sim.env:So101PickPlaceEnv")


register()
