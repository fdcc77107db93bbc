"""One strategy for every OpenGL context of a process: windows, offscreen cameras and the VR view.

A workbench process may hold several GL contexts at once: a GLFW window (GLX on X11) and the offscreen contexts of
the robot cameras (EGL, OSMesa or hidden GLFW windows, as ``MUJOCO_GL`` chose when MuJoCo was imported). libglvnd
lets a thread have a context of only one API current at a time: making an EGL context current while a window's GLX
context is current fails with ``EGL_BAD_ACCESS``, and the reverse raises an X error (``BadAccess`` in
``X_GLXMakeCurrent``) that kills the process. So every owner of a context makes it current through
``make_current(owner)``, which first releases whichever other owner's context this thread has current.

Fork: the GL driver of a process that has opened a context does not work in a forked copy of it (Mesa's software
renderer waits there for worker threads that only the parent has, forever). Every owner calls ``before_new_context``
before creating its context, which refuses that case with a ``DeviceError`` instead of a hang; a parent that forks
workers must not render first (the camera renderers open their context at their first render, so building an
environment is safe), or start its workers with ``spawn``/``forkserver``.

Teardown: an owner frees its GL objects with its own context current (``release`` it before freeing the context),
in any order, once. ``close_at_exit`` closes the owners still open when the interpreter exits, before MuJoCo
terminates its EGL display; garbage collection in interpreter teardown would free them in arbitrary order.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol

import mujoco

from so101.errors import DeviceError


class GLOwner(Protocol):
    """Something that owns a GL context: a window, an offscreen renderer, a VR session."""

    def acquire_gl(self) -> None:
        """Make this owner's context current on this thread (called only through ``make_current``)."""

    def release_gl(self) -> None:
        """Leave no context of this owner's API current on this thread (called only through ``make_current``)."""


_thread = threading.local()


def make_current(owner: GLOwner) -> None:
    """Make ``owner``'s context current on this thread, first releasing the context of the owner current before."""
    previous = getattr(_thread, "owner", None)
    if previous is not None and previous is not owner:
        previous.release_gl()
    # Made current again even when it already is: MuJoCo's EGL set-up may have released it behind our back.
    owner.acquire_gl()
    _thread.owner = owner


def release(owner: GLOwner) -> None:
    """Release ``owner``'s context if it is current on this thread: call it before freeing the context."""
    if getattr(_thread, "owner", None) is owner:
        owner.release_gl()
        _thread.owner = None


def release_current() -> None:
    """Leave no context current on this thread."""
    owner = getattr(_thread, "owner", None)
    if owner is not None:
        release(owner)


_driver_pid: int | None = None
"""The process that opened this process's first GL context: a forked child inherits the value (and the driver's
state, without its threads)."""


def before_new_context() -> None:
    """Call before creating a context: refuses in a process forked from one whose GL driver is in use (see the
    module), and leaves no context current on this thread (GLFW makes a new window's context current while it
    creates the window)."""
    global _driver_pid
    if _driver_pid is not None and _driver_pid != os.getpid():
        raise DeviceError(
            f"cannot open an OpenGL context in process {os.getpid()}: it was forked from process {_driver_pid}, "
            "which had opened one, and a GL driver does not work in a forked copy of a process; create the "
            "environments or renderers before the parent renders anything, or start the workers with the 'spawn' "
            "or 'forkserver' start method"
        )
    _driver_pid = os.getpid()
    release_current()


_OPEN: dict[int, weakref.WeakMethod] = {}


def close_at_exit(close: Callable[[], None]) -> None:
    """Call ``close`` (a bound method of an open owner) when the interpreter exits, unless ``forget`` is called."""
    _OPEN[id(close.__self__)] = weakref.WeakMethod(close)  # type: ignore[attr-defined]
    # atexit runs the last registered first: registering again after every new context puts this hook before
    # the handlers that GL libraries registered meanwhile (MuJoCo's EGL display termination).
    atexit.unregister(_close_open)
    atexit.register(_close_open)


def forget(owner: object) -> None:
    """``owner`` is closed: nothing to do for it at exit."""
    _OPEN.pop(id(owner), None)


def _close_open() -> None:
    for method in list(_OPEN.values()):
        close = method()
        if close is not None:
            close()


class OffscreenContext:
    """A GL context without a window, from the backend MuJoCo was imported with (``MUJOCO_GL``: egl, osmesa, glfw).

    Args:
        width: the largest image width (pixels) rendered in it.
        height: the largest image height (pixels) rendered in it.
    """

    def __init__(self, width: int, height: int) -> None:
        before_new_context()
        self._context: Any = mujoco.GLContext(width, height)
        self.backend = type(self._context).__module__.rpartition(".")[2]
        """``egl``, ``osmesa`` or ``glfw``."""

    @property
    def alive(self) -> bool:
        """False once freed, or once MuJoCo has terminated its EGL display (at interpreter exit)."""
        if self._context is None:
            return False
        if self.backend == "egl":
            from mujoco import egl

            return egl.EGL_DISPLAY is not None
        return True

    def acquire_gl(self) -> None:
        self._context.make_current()

    def release_gl(self) -> None:
        if self.backend == "egl":
            from mujoco import egl

            if egl.EGL_DISPLAY is not None:
                egl.EGL.eglMakeCurrent(
                    egl.EGL_DISPLAY, egl.EGL.EGL_NO_SURFACE, egl.EGL.EGL_NO_SURFACE, egl.EGL.EGL_NO_CONTEXT
                )
        elif self.backend == "glfw":
            import glfw

            glfw.make_context_current(None)
        # OSMesa is a GL library of its own, outside libglvnd: its context never blocks another API's.

    def free(self) -> None:
        """Destroy the context (idempotent); release it first."""
        if self._context is not None:
            release(self)
            self._context.free()
            self._context = None
