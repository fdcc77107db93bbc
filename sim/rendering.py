"""Offscreen rendering of the robot cameras, headless (EGL or OSMesa) or with a display.

Two profiles:

* ``fast``: no shadows, no reflections, no multisampling, no skybox, no floor below the table, coarser
  tessellation of round shapes. Software GL (Mesa llvmpipe on a machine without a GPU) is several times faster
  this way. Use it for evaluation, benchmarks, tests and training-time rollouts.
* ``quality``: shadows and 4x multisampling. Use it for recording datasets you will train on when a GPU renders,
  and for videos people will watch.

A policy must be evaluated with the profile its training data was recorded with: the images differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import mujoco
import numpy as np

from sim.scene import CameraConfig

RenderProfile = Literal["fast", "quality"]
RENDER_PROFILES: tuple[str, ...] = ("fast", "quality")


def apply_render_profile(model: mujoco.MjModel, profile: RenderProfile) -> None:
    """Set the model's visual options for a profile. Call before creating renderers."""
    if profile not in RENDER_PROFILES:
        raise ValueError(f"unknown render profile {profile!r}; use 'fast' or 'quality'")
    fast = profile == "fast"
    model.vis.quality.offsamples = 0 if fast else 4
    model.vis.quality.numslices = 10 if fast else 28
    model.vis.quality.numstacks = 5 if fast else 16
    model.vis.quality.numquads = 1 if fast else 4


def scene_option(profile: RenderProfile) -> mujoco.MjvOption:
    """Visibility options of a profile: the fast one hides geom group 1 (scenery such as the floor)."""
    option = mujoco.MjvOption()
    option.geomgroup[1] = profile != "fast"
    return option


def configure_scene_flags(scene: mujoco.MjvScene, profile: RenderProfile) -> None:
    """Switch the per-scene effects of a profile on or off."""
    rich = profile == "quality"
    scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = rich
    scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = rich
    scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = rich


class CameraRenderer:
    """Renders a fixed set of scene cameras into uint8 RGB arrays of shape (height, width, 3).

    Cameras of the same size share one GL renderer; each size gets its own.
    """

    def __init__(
        self, model: mujoco.MjModel, cameras: Sequence[CameraConfig], profile: RenderProfile = "fast"
    ) -> None:
        apply_render_profile(model, profile)
        self._cameras = list(cameras)
        names = [camera.name for camera in self._cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"each camera may be listed once, got {names}")
        for camera in self._cameras:
            if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera.name) < 0:
                raise ValueError(f"the scene has no camera named {camera.name!r}")
        _ensure_offscreen_buffer(model, self._cameras)
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        for camera in self._cameras:
            size = (camera.height, camera.width)
            if size not in self._renderers:
                renderer = mujoco.Renderer(model, height=camera.height, width=camera.width)
                configure_scene_flags(renderer.scene, profile)
                self._renderers[size] = renderer
        self.profile = profile
        self._option = scene_option(profile)

    @property
    def cameras(self) -> list[CameraConfig]:
        return list(self._cameras)

    def render(self, data: mujoco.MjData) -> dict[str, np.ndarray]:
        """Images of every camera for the current state of ``data`` (kinematics must be up to date)."""
        images: dict[str, np.ndarray] = {}
        for camera in self._cameras:
            renderer = self._renderers[(camera.height, camera.width)]
            renderer.update_scene(data, camera=camera.name, scene_option=self._option)
            images[camera.name] = renderer.render()
        return images

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    def __enter__(self) -> CameraRenderer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _ensure_offscreen_buffer(model: mujoco.MjModel, cameras: Sequence[CameraConfig]) -> None:
    # The offscreen framebuffer must be at least as large as the largest image.
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, *(camera.width for camera in cameras))
    model.vis.global_.offheight = max(model.vis.global_.offheight, *(camera.height for camera in cameras))
