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

from so101.sim.gl_context import OffscreenContext, close_at_exit, forget, make_current
from so101.sim.scene import CameraConfig

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
    """Renders a fixed set of scene cameras into uint8 RGB arrays of shape (height, width, 3), top row first.

    Every camera renders in one offscreen GL context (``so101.sim.gl_context``), which takes turns with any window of
    the process; ``close`` is idempotent and safe before or after closing windows.
    """

    def __init__(
        self, model: mujoco.MjModel, cameras: Sequence[CameraConfig], profile: RenderProfile = "fast"
    ) -> None:
        self._context: mujoco.MjrContext | None = None
        apply_render_profile(model, profile)
        self._cameras = list(cameras)
        names = [camera.name for camera in self._cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"each camera may be listed once, got {names}")
        self._camera_ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name) for name in names]
        for name, camera_id in zip(names, self._camera_ids, strict=True):
            if camera_id < 0:
                raise ValueError(f"the scene has no camera named {name!r}")
        _ensure_offscreen_buffer(model, self._cameras)
        self._model = model
        self.profile = profile
        self._option = scene_option(profile)
        self._scene = mujoco.MjvScene(model, maxgeom=10_000)
        configure_scene_flags(self._scene, profile)
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._gl = OffscreenContext(model.vis.global_.offwidth, model.vis.global_.offheight)
        make_current(self._gl)
        try:
            self._context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_100)
        except BaseException:
            self._gl.free()
            raise
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        close_at_exit(self.close)

    @property
    def cameras(self) -> list[CameraConfig]:
        return list(self._cameras)

    def render(self, data: mujoco.MjData) -> dict[str, np.ndarray]:
        """Images of every camera for the current state of ``data`` (kinematics must be up to date)."""
        if self._context is None:
            raise RuntimeError("this CameraRenderer is closed")
        make_current(self._gl)
        images: dict[str, np.ndarray] = {}
        for camera, camera_id in zip(self._cameras, self._camera_ids, strict=True):
            self._camera.fixedcamid = camera_id
            mujoco.mjv_updateScene(
                self._model, data, self._option, None, self._camera, mujoco.mjtCatBit.mjCAT_ALL, self._scene
            )
            viewport = mujoco.MjrRect(0, 0, camera.width, camera.height)
            mujoco.mjr_render(viewport, self._scene, self._context)
            pixels = np.empty((camera.height, camera.width, 3), dtype=np.uint8)
            mujoco.mjr_readPixels(pixels, None, viewport, self._context)
            # GL's rows run bottom-up; a contiguous copy, as video writers and torch.from_numpy need.
            images[camera.name] = np.ascontiguousarray(pixels[::-1])
        return images

    def close(self) -> None:
        """Free the GL resources (idempotent; in any order with windows)."""
        context, self._context = self._context, None
        if context is None:
            return
        forget(self)
        if self._gl.alive:
            make_current(self._gl)
            context.free()
        self._gl.free()

    def __enter__(self) -> CameraRenderer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Freed with its own context current: left to MjrContext's destructor, its GL objects would be deleted in
        # whichever context is current then, a window's included.
        self.close()


def _ensure_offscreen_buffer(model: mujoco.MjModel, cameras: Sequence[CameraConfig]) -> None:
    # The offscreen framebuffer must be at least as large as the largest image.
    # (A list, so that no cameras at all leaves the model's size.)
    model.vis.global_.offwidth = max([model.vis.global_.offwidth, *(camera.width for camera in cameras)])
    model.vis.global_.offheight = max([model.vis.global_.offheight, *(camera.height for camera in cameras)])
