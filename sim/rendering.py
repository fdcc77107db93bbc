"""Offscreen rendering of the robot cameras, headless (EGL or OSMesa) or with a display.

Two profiles:

* ``fast``: no shadows, no reflections, no multisampling, no skybox, no floor below the table, coarser
  tessellation of round shapes. Software GL (Mesa llvmpipe on a machine without a GPU) is several times faster
  this way. Use it for evaluation, benchmarks, tests and training-time rollouts.
* ``quality``: shadows and 4x multisampling. Use it for recording datasets you will train on when a GPU renders,
  and for videos people will watch.

A policy must be evaluated with the profile its training data was recorded with: the images differ.

Fork safety: a ``CameraRenderer`` opens its GL context when it first renders, in the process that renders, and
never uses a context across ``fork``. So an environment made in a parent process and forked into workers
(gymnasium's ``AsyncVectorEnv`` with its default start method on Linux, ``lerobot-eval --eval.use_async_envs=true``)
renders in each worker with a context of the worker's own. Mesa's software renderer deadlocks in a forked child that
uses its parent's context: the child lacks the parent's rasterizer threads.
"""

from __future__ import annotations

import ctypes
import os
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
    the process; ``close`` is idempotent and safe before or after closing windows. The context opens at the first
    ``render`` in a process (see the module on fork safety): constructing a renderer makes no GL call.
    """

    def __init__(
        self, model: mujoco.MjModel, cameras: Sequence[CameraConfig], profile: RenderProfile = "fast"
    ) -> None:
        # The GL context: opened by the first render, in the process that renders (``_own_gl``).
        self._gl: OffscreenContext | None = None
        self._context: mujoco.MjrContext | None = None
        self._gl_pid: int | None = None
        self._closed = False
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

    @property
    def cameras(self) -> list[CameraConfig]:
        return list(self._cameras)

    def render(self, data: mujoco.MjData) -> dict[str, np.ndarray]:
        """Images of every camera for the current state of ``data`` (kinematics must be up to date)."""
        if self._closed:
            raise RuntimeError("this CameraRenderer is closed")
        gl, context = self._own_gl()
        make_current(gl)
        images: dict[str, np.ndarray] = {}
        for camera, camera_id in zip(self._cameras, self._camera_ids, strict=True):
            self._camera.fixedcamid = camera_id
            mujoco.mjv_updateScene(
                self._model, data, self._option, None, self._camera, mujoco.mjtCatBit.mjCAT_ALL, self._scene
            )
            viewport = mujoco.MjrRect(0, 0, camera.width, camera.height)
            mujoco.mjr_render(viewport, self._scene, context)
            pixels = np.empty((camera.height, camera.width, 3), dtype=np.uint8)
            mujoco.mjr_readPixels(pixels, None, viewport, context)
            # GL's rows run bottom-up; a contiguous copy, as video writers and torch.from_numpy need.
            images[camera.name] = np.ascontiguousarray(pixels[::-1])
        return images

    @property
    def has_gl_context(self) -> bool:
        """Whether this process has opened this renderer's GL context (it opens at the first render)."""
        return self._gl is not None and self._gl_pid == os.getpid()

    def _own_gl(self) -> tuple[OffscreenContext, mujoco.MjrContext]:
        """This process's GL context and MuJoCo's render context in it, opened at the first call in a process; one
        inherited through ``fork`` is left untouched (see the module)."""
        if self._gl is not None and self._context is not None and self._gl_pid == os.getpid():
            return self._gl, self._context
        self._abandon_inherited()
        # The context takes multisampling, tessellation and buffer size from the model when it is made: this
        # renderer's, whatever another renderer or view of the model set since this one was built.
        apply_render_profile(self._model, self.profile)
        _ensure_offscreen_buffer(self._model, self._cameras)
        gl = OffscreenContext(self._model.vis.global_.offwidth, self._model.vis.global_.offheight)
        make_current(gl)
        try:
            context = mujoco.MjrContext(self._model, mujoco.mjtFontScale.mjFONTSCALE_100)
        except BaseException:
            gl.free()
            raise
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, context)
        self._gl, self._context, self._gl_pid = gl, context, os.getpid()
        close_at_exit(self.close)
        return gl, context

    def _abandon_inherited(self) -> None:
        # A context of the parent process: freeing it, here or in a destructor, would make GL calls on the parent's
        # driver state, which can hang. Its objects get a reference that is never dropped, so that no destructor
        # runs in this process, not even at interpreter exit.
        if self._gl is not None and self._gl_pid != os.getpid():
            for inherited in (self._gl, self._context):
                ctypes.pythonapi.Py_IncRef(ctypes.py_object(inherited))
            self._gl = self._context = None
            self._gl_pid = None

    def close(self) -> None:
        """Free the GL resources (idempotent; in any order with windows; in a forked child, only its own)."""
        if self._closed:
            return
        self._closed = True
        forget(self)
        self._abandon_inherited()
        gl, context = self._gl, self._context
        self._gl = self._context = None
        if gl is None or context is None:
            return
        if gl.alive:
            make_current(gl)
            context.free()
        gl.free()

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
