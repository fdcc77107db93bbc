"""A desktop window on a simulated scene (GLFW), with a free camera and the robot cameras.

Mouse: left-drag orbits, right-drag pans, scroll zooms. Keys: the ones bound here (camera choice, help, Esc) plus
whatever a caller adds with ``add_key`` (keyboard teleoperation adds its episode keys). The window shows a text
overlay of key help and status lines.

The window is a ``so101.sim.control_loop.View``: a ``ControlClock`` draws it between control ticks. Its GL context takes
turns with the offscreen cameras' through ``so101.sim.gl_context``, whatever ``MUJOCO_GL`` is (egl, osmesa or glfw),
so a window and camera rendering share one process. It needs a display: a desktop session or ``xvfb-run -a``.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from so101.errors import DeviceError
from so101.sim.gl_context import before_new_context, close_at_exit, forget, make_current, release
from so101.sim.rendering import RenderProfile, configure_scene_flags, scene_option
from so101.sim.simulator import So101Sim

KeyCallback = Callable[[], None]


@dataclass
class KeyBinding:
    key: int
    """A ``glfw.KEY_*`` code."""
    label: str
    """Shown in the help overlay, e.g. ``"R  new scene"``."""
    callback: KeyCallback


def has_display() -> bool:
    """Whether a window can be opened: on Linux an X or Wayland display must be set; other systems always have one."""
    return not sys.platform.startswith("linux") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Viewer:
    """A GLFW window rendering ``sim`` from a free camera or one of its scene cameras."""

    def __init__(
        self,
        sim: So101Sim,
        title: str = "SO-101 workbench",
        width: int = 1280,
        height: int = 720,
        profile: RenderProfile = "quality",
        visible: bool = True,
    ) -> None:
        import glfw

        self._window: Any = None
        with warnings.catch_warnings():  # the reason is in the DeviceError; GLFW's own warning would be a 2nd line
            warnings.simplefilter("ignore")
            if not glfw.init():
                raise DeviceError(
                    f"cannot open a window: no display ({_glfw_error(glfw)}); run on a desktop session, or under "
                    f"a virtual display: {_xvfb_command()}"
                )
            glfw.window_hint(glfw.VISIBLE, glfw.TRUE if visible else glfw.FALSE)
            glfw.window_hint(glfw.SAMPLES, 4 if profile == "quality" else 0)
            before_new_context()
            window = glfw.create_window(width, height, title, None, None)
        if not window:
            raise DeviceError(
                f"cannot open an OpenGL window on this display ({_glfw_error(glfw)}); install the display's OpenGL "
                f"drivers, or use a virtual display: {_xvfb_command()}"
            )
        self._window = window
        self._glfw = glfw
        make_current(self)
        # The ControlClock paces frames; waiting for vertical sync inside draw() would delay control ticks.
        glfw.swap_interval(0)
        self.sim = sim
        self.frame_period_s = 1.0 / 60.0
        """Seconds between frames drawn by a ``ControlClock`` while it waits for the next control tick."""
        self._scene = mujoco.MjvScene(sim.model, maxgeom=2000)
        configure_scene_flags(self._scene, profile)
        self._option = scene_option(profile)
        # Small windows get a small font, so that the overlay leaves the scene visible.
        self._font = mujoco.mjtFontScale.mjFONTSCALE_150 if height >= 600 else mujoco.mjtFontScale.mjFONTSCALE_100
        self._context = mujoco.MjrContext(sim.model, self._font)
        self.show_help = True
        self._camera = mujoco.MjvCamera()
        self._camera.lookat[:] = (0.18, 0.0, 0.08)
        self._camera.distance = 0.75
        self._camera.azimuth = -140.0
        self._camera.elevation = -28.0
        self._camera_names = [sim.model.camera(i).name for i in range(sim.model.ncam)]
        self._camera_index = -1
        self._bindings: dict[int, KeyBinding] = {}
        self.status_lines: list[str] = []
        self._drag_button: int | None = None
        self._cursor = (0.0, 0.0)
        for index, _name in enumerate(self._camera_names[:9]):
            self.add_key(glfw.KEY_1 + index, f"{index + 1}  {self._camera_names[index]}", self._camera_setter(index))
        self.add_key(glfw.KEY_0, "0  free camera", self._camera_setter(-1))
        self.add_key(glfw.KEY_H, "H  hide/show this help", self._toggle_help)
        self.add_key(glfw.KEY_ESCAPE, "Esc  quit", self.close)
        glfw.set_key_callback(self._window, self._on_key)
        glfw.set_mouse_button_callback(self._window, self._on_mouse_button)
        glfw.set_cursor_pos_callback(self._window, self._on_cursor)
        glfw.set_scroll_callback(self._window, self._on_scroll)
        close_at_exit(self.shutdown)

    def add_key(self, key: int, label: str, callback: KeyCallback) -> None:
        """Bind ``key`` (a ``glfw.KEY_*`` code) to ``callback``, listed in the help overlay as ``label``.

        For jogging while a key is held, poll ``is_pressed`` instead."""
        self._bindings[key] = KeyBinding(key, label, callback)

    @property
    def camera_name(self) -> str:
        """The camera shown: a scene camera's name, or ``"free"``."""
        return "free" if self._camera_index < 0 else self._camera_names[self._camera_index]

    @property
    def should_close(self) -> bool:
        """Whether the user closed the window (or Esc, or ``close``); always True after ``shutdown``."""
        return self._window is None or bool(self._glfw.window_should_close(self._window))

    def close(self) -> None:
        """Ask the loop showing this window to stop (``should_close`` turns True); ``shutdown`` destroys it."""
        if self._window is not None:
            self._glfw.set_window_should_close(self._window, True)

    def is_pressed(self, key: int) -> bool:
        """Whether ``key`` (a ``glfw.KEY_*`` code) is held down now: for jogging while a key is held."""
        return self._window is not None and self._glfw.get_key(self._window, key) == self._glfw.PRESS

    def acquire_gl(self) -> None:
        self._glfw.make_context_current(self._window)

    def release_gl(self) -> None:
        self._glfw.make_context_current(None)

    def draw(self) -> None:
        """Draw the current state of the simulation and process window events (``so101.sim.control_loop.View``).

        Does nothing after ``shutdown``."""
        if self._window is None:
            return
        glfw = self._glfw
        make_current(self)
        width, height = glfw.get_framebuffer_size(self._window)
        viewport = mujoco.MjrRect(0, 0, width, height)
        if self._camera_index < 0:
            self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        else:
            self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
            self._camera.fixedcamid = self._camera_index
        mujoco.mjv_updateScene(
            self.sim.model, self.sim.data, self._option, None, self._camera, mujoco.mjtCatBit.mjCAT_ALL, self._scene
        )
        mujoco.mjr_render(viewport, self._scene, self._context)
        if self.show_help:
            help_lines = "\n".join(binding.label for binding in self._bindings.values())
            mujoco.mjr_overlay(self._font, mujoco.mjtGridPos.mjGRID_TOPLEFT, viewport, help_lines, "", self._context)
        status = "\n".join([f"camera: {self.camera_name}", *self.status_lines])
        mujoco.mjr_overlay(self._font, mujoco.mjtGridPos.mjGRID_BOTTOMLEFT, viewport, status, "", self._context)
        glfw.swap_buffers(self._window)
        glfw.poll_events()

    def read_pixels(self) -> np.ndarray:
        """The last rendered frame as (height, width, 3) uint8, top row first."""
        if self._window is None:
            raise RuntimeError("the viewer is shut down")
        make_current(self)
        width, height = self._glfw.get_framebuffer_size(self._window)
        pixels = np.empty((height, width, 3), dtype=np.uint8)
        mujoco.mjr_readPixels(pixels, None, mujoco.MjrRect(0, 0, width, height), self._context)
        return np.flipud(pixels)

    def save_screenshot(self, path: Path) -> None:
        import imageio.v3 as iio

        iio.imwrite(path, self.read_pixels())

    def shutdown(self) -> None:
        """Destroy the window and its GL resources (idempotent; in any order with camera renderers).

        GLFW itself stays initialised: terminating it would destroy every other GLFW window of the process, the
        hidden ones of MuJoCo's offscreen contexts under ``MUJOCO_GL=glfw`` among them."""
        window = self._window
        if window is None:
            return
        forget(self)
        make_current(self)
        self._context.free()
        release(self)
        self._window = None
        self._glfw.destroy_window(window)

    def _toggle_help(self) -> None:
        self.show_help = not self.show_help

    def _camera_setter(self, index: int) -> KeyCallback:
        def select() -> None:
            self._camera_index = index

        return select

    def _on_key(self, _window: object, key: int, _scancode: int, action: int, _mods: int) -> None:
        binding = self._bindings.get(key)
        if binding is None:
            return
        if action == self._glfw.PRESS:
            binding.callback()

    def _on_mouse_button(self, _window: object, button: int, action: int, _mods: int) -> None:
        self._drag_button = button if action == self._glfw.PRESS else None
        self._cursor = self._glfw.get_cursor_pos(self._window)

    def _on_cursor(self, _window: object, x: float, y: float) -> None:
        if self._drag_button is None or self._camera_index >= 0:
            self._cursor = (x, y)
            return
        _, height = self._glfw.get_window_size(self._window)
        dx, dy = (x - self._cursor[0]) / height, (y - self._cursor[1]) / height
        self._cursor = (x, y)
        action = (
            mujoco.mjtMouse.mjMOUSE_ROTATE_V
            if self._drag_button == self._glfw.MOUSE_BUTTON_LEFT
            else mujoco.mjtMouse.mjMOUSE_MOVE_V
        )
        mujoco.mjv_moveCamera(self.sim.model, action, dx, dy, self._scene, self._camera)

    def _on_scroll(self, _window: object, _dx: float, dy: float) -> None:
        if self._camera_index < 0:
            zoom = mujoco.mjtMouse.mjMOUSE_ZOOM
            mujoco.mjv_moveCamera(self.sim.model, zoom, 0.0, -0.05 * dy, self._scene, self._camera)


def _glfw_error(glfw: object) -> str:
    """GLFW's description of its last error, or a generic one."""
    _code, description = glfw.get_error()  # type: ignore[attr-defined]
    if isinstance(description, bytes):
        description = description.decode(errors="replace")
    return description or "GLFW reported no reason"


def _xvfb_command() -> str:
    """The command line that was run, under ``xvfb-run -a``, e.g. ``xvfb-run -a so101 view ...``."""
    command = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    if command == "so101" and len(sys.argv) > 1:
        return f"xvfb-run -a so101 {sys.argv[1]} ..."
    return "xvfb-run -a so101 <command> ..."
