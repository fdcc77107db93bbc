"""The OpenGL context an OpenXR session renders with, and the graphics binding that hands it to the runtime.

Three bindings, chosen from what the runtime offers (``choose_graphics``):

* ``glx``: Linux X11, ``XR_KHR_opengl_enable`` with an Xlib binding; the context is a GLFW window's, and that
  window is the desktop mirror (hidden when no mirror is wanted).
* ``wgl``: Windows, ``XR_KHR_opengl_enable`` with a Win32 binding; the same GLFW window.
* ``egl``: ``XR_MNDX_egl_enable`` (Monado); a surfaceless EGL context, no window: headless sessions and tests.

The context is a ``so101.sim.gl_context`` owner, so it takes turns with the robot cameras' offscreen contexts.
pyopenxr switches PyOpenGL's platform to GLX when imported (pyopenxr 1.1.6501, ``xr/platform/linux.py``); EGL's
functions are then taken from MuJoCo's EGL module, which bound them when MuJoCo was imported.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Collection
from typing import Any, Literal

from so101.errors import DeviceError
from so101.sim.gl_context import before_new_context, close_at_exit, forget, make_current, release
from so101.sim.viewer import has_display

GraphicsName = Literal["auto", "glx", "wgl", "egl"]
OPENGL_EXTENSION = "XR_KHR_opengl_enable"
EGL_EXTENSION = "XR_MNDX_egl_enable"


def window_binding() -> str:
    """The window-system binding of this platform: ``wgl`` on Windows, ``glx`` elsewhere (X11)."""
    return "wgl" if sys.platform == "win32" else "glx"


def choose_graphics(requested: GraphicsName, extensions: Collection[str], want_window: bool) -> str:
    """The binding to use: ``requested``, or for ``auto`` a window binding when ``want_window`` and a display
    exist, else EGL when the runtime offers it, else the window binding (a hidden window).

    Raises:
        DeviceError: the runtime lacks the extension the binding needs, naming what it offers and the fix.
    """
    window = window_binding()
    if requested == "auto":
        if OPENGL_EXTENSION in extensions and want_window and has_display():
            requested = window
        elif EGL_EXTENSION in extensions and OPENGL_EXTENSION in extensions and sys.platform != "win32":
            requested = "egl"
        else:
            requested = window
    needed = [OPENGL_EXTENSION] + ([EGL_EXTENSION] if requested == "egl" else [])
    missing = [name for name in needed if name not in extensions]
    if missing:
        raise DeviceError(
            f"the OpenXR runtime does not offer {', '.join(missing)} (OpenGL rendering for --vr.graphics "
            f"{requested}); it offers {', '.join(sorted(e for e in extensions if 'enable' in e)) or 'no GL binding'}. "
            "Choose a runtime with OpenGL support (SteamVR, Monado, WiVRn; Meta Quest Link on Windows) through "
            "XR_RUNTIME_JSON, or another --vr.graphics"
        )
    if requested in ("glx", "wgl") and requested != window:
        raise DeviceError(f"--vr.graphics {requested} is not available on {sys.platform}; use {window} or auto")
    if requested == "glx" and not has_display():
        raise DeviceError(
            "--vr.graphics glx needs an X display (DISPLAY is not set); run on the desktop session, under "
            "xvfb-run -a, or use --vr.graphics egl with a runtime that offers XR_MNDX_egl_enable"
        )
    return requested


class XrGLContext:
    """A GL context for an OpenXR session and its graphics binding structure.

    Args:
        graphics: ``glx``, ``wgl`` or ``egl`` (see ``choose_graphics``).
        window_size: (width, height) of the mirror window (pixels); ignored for ``egl``.
        visible: show the window (the desktop mirror); ignored for ``egl``.
    """

    def __init__(self, graphics: str, window_size: tuple[int, int] = (960, 540), visible: bool = True) -> None:
        self.graphics = graphics
        self.window: Any = None
        """The GLFW window (``glx``/``wgl``): the mirror, and the source of keyboard fallbacks; None for EGL."""
        self._egl: Any = None
        before_new_context()
        if graphics == "egl":
            self._init_egl()
        else:
            self._init_window(window_size, visible)
        make_current(self)
        close_at_exit(self.free)

    @property
    def alive(self) -> bool:
        """False once freed."""
        return self._egl is not None or self.window is not None

    # ------------------------------------------------------------------ GLOwner

    def acquire_gl(self) -> None:
        if self._egl is not None:
            egl, display, surface, context = self._egl
            if not egl.eglMakeCurrent(display, surface, surface, context):
                raise RuntimeError("eglMakeCurrent failed for the VR context")
        else:
            self._glfw.make_context_current(self.window)

    def release_gl(self) -> None:
        if self._egl is not None:
            egl, display = self._egl[0], self._egl[1]
            egl.eglMakeCurrent(display, egl.EGL_NO_SURFACE, egl.EGL_NO_SURFACE, egl.EGL_NO_CONTEXT)
        elif self.window is not None:
            self._glfw.make_context_current(None)

    # ------------------------------------------------------------------ binding

    def binding(self) -> Any:
        """The ``xr.GraphicsBinding*`` structure for ``xr.SessionCreateInfo.next`` (keep it alive with the session)."""
        import xr

        make_current(self)
        if self._egl is not None:
            egl, display, _surface, context = self._egl
            get_proc = ctypes.cast(egl.eglGetProcAddress.load(), xr.PFN_xrEglGetProcAddressMNDX)
            return xr.GraphicsBindingEGLMNDX(
                get_proc_address=get_proc, display=display, config=self._egl_config, context=context
            )
        glfw = self._glfw
        if self.graphics == "wgl":
            hwnd = glfw.get_win32_window(self.window)
            hdc = ctypes.windll.user32.GetDC(hwnd)  # type: ignore[attr-defined]
            return xr.GraphicsBindingOpenGLWin32KHR(h_dc=hdc, h_glrc=glfw.get_wgl_context(self.window))
        from OpenGL import GLX

        # Monado reads the display, drawable and context (checked under Xvfb); visual id and FB config stay unset.
        return xr.GraphicsBindingOpenGLXlibKHR(
            x_display=ctypes.cast(glfw.get_x11_display(), ctypes.POINTER(GLX.Display)),
            glx_drawable=glfw.get_glx_window(self.window),
            glx_context=ctypes.cast(glfw.get_glx_context(self.window), GLX.GLXContext),
        )

    def swap(self) -> None:
        """Show the mirror window's back buffer and process its events (no-op without a window)."""
        if self.window is not None:
            self._glfw.swap_buffers(self.window)
            self._glfw.poll_events()

    def free(self) -> None:
        """Destroy the context (idempotent); GL objects made in it must be freed before."""
        forget(self)
        release(self)
        if self._egl is not None:
            egl, display, surface, context = self._egl
            self._egl = None
            if surface != egl.EGL_NO_SURFACE:
                egl.eglDestroySurface(display, surface)
            egl.eglDestroyContext(display, context)
        if self.window is not None:
            window, self.window = self.window, None
            self._glfw.destroy_window(window)

    # ------------------------------------------------------------------ set-up

    def _init_window(self, size: tuple[int, int], visible: bool) -> None:
        import glfw

        if not glfw.init():
            raise DeviceError(
                "cannot open the VR mirror window (GLFW could not initialise: no display?); run on the desktop "
                "session, or use --vr.graphics egl with a runtime that offers XR_MNDX_egl_enable"
            )
        glfw.window_hint(glfw.VISIBLE, glfw.TRUE if visible else glfw.FALSE)
        glfw.window_hint(glfw.SAMPLES, 0)
        glfw.window_hint(glfw.DOUBLEBUFFER, glfw.TRUE)
        window = glfw.create_window(size[0], size[1], "so101 vr (left eye)", None, None)
        if not window:
            raise DeviceError("cannot create an OpenGL window for the VR session; install the display's GL drivers")
        self._glfw = glfw
        self.window = window
        glfw.make_context_current(window)
        glfw.swap_interval(0)  # the headset paces frames, never the monitor's vertical sync

    def _init_egl(self) -> None:
        # MuJoCo's EGL module holds PyOpenGL's EGL functions bound before pyopenxr switched PyOpenGL's platform;
        # its device display (the GPU, or Mesa's software device) is shared with the robot cameras' contexts.
        from mujoco import egl as mujoco_egl

        egl = mujoco_egl.EGL
        display = mujoco_egl.EGL_DISPLAY
        if display is None:
            display = mujoco_egl.create_initialized_egl_device_display()
        if display == egl.EGL_NO_DISPLAY:
            raise DeviceError(
                "no EGL device display for the VR session; install libegl1 and Mesa, or use --vr.graphics glx"
            )
        attributes = [egl.EGL_RED_SIZE, 8, egl.EGL_GREEN_SIZE, 8, egl.EGL_BLUE_SIZE, 8, egl.EGL_ALPHA_SIZE, 8,
                      egl.EGL_DEPTH_SIZE, 24, egl.EGL_RENDERABLE_TYPE, egl.EGL_OPENGL_BIT,
                      egl.EGL_SURFACE_TYPE, egl.EGL_PBUFFER_BIT, egl.EGL_NONE]  # fmt: skip
        configs, count = (egl.EGLConfig * 1)(), egl.EGLint()
        if not egl.eglChooseConfig(display, (egl.EGLint * len(attributes))(*attributes), configs, 1, count) or (
            count.value < 1
        ):
            raise DeviceError("EGL offers no RGBA8 + depth OpenGL configuration for the VR session")
        egl.eglBindAPI(egl.EGL_OPENGL_API)
        context = egl.eglCreateContext(display, configs[0], egl.EGL_NO_CONTEXT, None)
        if context == egl.EGL_NO_CONTEXT:
            raise DeviceError("cannot create an EGL OpenGL context for the VR session")
        self._egl_config = configs[0]
        # Surfaceless (EGL_KHR_surfaceless_context): the session renders into swapchain images only.
        self._egl = (egl, display, egl.EGL_NO_SURFACE, context)
