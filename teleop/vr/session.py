"""An OpenXR session through pyopenxr: instance, headset, OpenGL binding, state machine, spaces and frame timing.

Lifecycle (``handle_state`` is the one function every session state goes through, whether it comes from the
runtime's events or from a test):

* READY: ``xrBeginSession``; frames run from then on (SYNCHRONIZED, VISIBLE, FOCUSED).
* FOCUSED: input is read; VISIBLE (or FOCUSED): frames are rendered. Losing focus (headset taken off, the system
  menu) leaves ``focused`` False: teleoperation pauses until it comes back.
* STOPPING: ``xrEndSession``; the session has ``ended``: the recording stops cleanly, saved episodes stay.
* LOSS_PENDING, EXITING, or the instance being lost (the runtime went away): ``lost`` / ``ended``.

Spaces: the reference space is ``STAGE`` (floor level) when the runtime has one, else ``LOCAL``; the workspace is
placed in it by ``so101.teleop.vr.anchor``. Times are OpenXR times (ns); poses in the reference space (m,
``[w, x, y, z]``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from so101.errors import DeviceError
from so101.kinematics.pose import Pose
from so101.teleop.vr.gl import EGL_EXTENSION, OPENGL_EXTENSION, GraphicsName, XrGLContext, choose_graphics
from so101.teleop.vr.runtime_env import prepare_runtime_environment

OPTIONAL_EXTENSIONS = ("XR_KHR_convert_timespec_time", "XR_FB_display_refresh_rate")
DEFAULT_DISPLAY_PERIOD_S = 1.0 / 90.0
"""Frame period assumed until the runtime predicts one (s)."""


@dataclass
class ViewInfo:
    """One view (eye) of the headset's view configuration."""

    recommended: tuple[int, int]
    """Recommended image size (width, height) in pixels."""
    maximum: tuple[int, int]
    samples: int
    """Recommended swapchain sample count."""


def xr_pose(pose: Any) -> Pose:
    """An ``xr.Posef`` as a ``Pose`` (m, ``[w, x, y, z]``)."""
    p, q = pose.position, pose.orientation
    return Pose(np.array([p.x, p.y, p.z]), np.array([q.w, q.x, q.y, q.z]))


class XrSession:
    """An OpenXR instance and session with an OpenGL context.

    Args:
        graphics: the binding (``auto`` chooses from what the runtime offers, see ``so101.teleop.vr.gl``).
        mirror: show the desktop mirror window (window bindings only).
        app_name: the application name the runtime shows.

    Raises:
        DeviceError: no OpenXR runtime, no headset, no OpenGL binding, or Monado without a display and without its
            null compositor; the message names the fix.
    """

    def __init__(self, graphics: GraphicsName = "auto", mirror: bool = True, app_name: str = "so101") -> None:
        prepare_runtime_environment()  # before the runtime loads: refuses a headless Monado that would crash
        import xr

        self._xr = xr
        self.state = xr.SessionState.UNKNOWN
        self.running = False
        self.ended = False
        """The session is over (STOPPING, EXITING, LOSS_PENDING or the runtime gone): stop using it."""
        self.lost = False
        """The runtime went away (LOSS_PENDING, instance lost): the session ended without the user asking."""
        self.on_state: list[Callable[[Any], None]] = []
        """Called with each new state (after the session acted on it)."""
        self.instance: Any = None
        self.session: Any = None
        self.gl: XrGLContext | None = None
        self._spaces: list[Any] = []
        try:
            available = [e.extension_name.decode() for e in xr.enumerate_instance_extension_properties()]
        except xr.exception.RuntimeUnavailableError as error:
            manifest = os.environ.get("XR_RUNTIME_JSON")
            if manifest and not os.path.isfile(manifest):
                raise DeviceError(
                    f"XR_RUNTIME_JSON={manifest} is not a file: point it at your runtime's manifest (e.g. "
                    "openxr_monado.json, SteamVR's steamxr_linux64.json), or unset it to use the active runtime"
                ) from None
            raise DeviceError(
                "no OpenXR runtime found: start your headset's runtime (SteamVR, Meta Quest Link, Monado, WiVRn) "
                f"and make it the active one, or point XR_RUNTIME_JSON at its manifest ({error})"
            ) from None
        chosen = choose_graphics(graphics, available, mirror)
        wanted = [OPENGL_EXTENSION] + ([EGL_EXTENSION] if chosen == "egl" else [])
        wanted += [name for name in OPTIONAL_EXTENSIONS if name in available]
        self.extensions = wanted
        self.instance = xr.create_instance(
            xr.InstanceCreateInfo(
                application_info=xr.ApplicationInfo(
                    application_name=app_name, engine_name="mujoco", api_version=xr.XR_API_VERSION_1_0
                ),
                enabled_extension_names=wanted,
            )
        )
        try:
            self.system_id = xr.get_system(self.instance, xr.SystemGetInfo(xr.FormFactor.HEAD_MOUNTED_DISPLAY))
        except xr.exception.FormFactorUnavailableError:
            self.close()
            raise DeviceError(
                "the OpenXR runtime sees no headset: connect it and start its link (Quest Link / Air Link, "
                "SteamVR's headset, WiVRn), then run again"
            ) from None
        self.view_type = xr.ViewConfigurationType.PRIMARY_STEREO
        self.views = [
            ViewInfo(
                (v.recommended_image_rect_width, v.recommended_image_rect_height),
                (v.max_image_rect_width, v.max_image_rect_height),
                v.recommended_swapchain_sample_count,
            )
            for v in xr.enumerate_view_configuration_views(self.instance, self.system_id, self.view_type)
        ]
        self.gl = XrGLContext(chosen, visible=mirror)
        # xrGetOpenGLGraphicsRequirementsKHR must be called before xrCreateSession.
        xr.get_opengl_graphics_requirements_khr(self.instance, self.system_id)
        self._binding = self.gl.binding()
        self.session = xr.create_session(
            self.instance,
            xr.SessionCreateInfo(
                system_id=self.system_id,
                next=ctypes.cast(ctypes.pointer(self._binding), ctypes.c_void_p),
            ),
        )
        spaces = list(xr.enumerate_reference_spaces(self.session))
        stage = xr.ReferenceSpaceType.STAGE
        self.reference_type = stage if stage in spaces else xr.ReferenceSpaceType.LOCAL
        self.space = self._reference_space(self.reference_type)
        self.view_space = self._reference_space(xr.ReferenceSpaceType.VIEW)
        self.display_period_s = DEFAULT_DISPLAY_PERIOD_S
        """The runtime's predicted display period (s), updated every frame."""
        self.last_display_time = 0
        """The latest predicted display time (OpenXR ns): where poses are located between frames."""

    # ------------------------------------------------------------------ state machine

    @property
    def focused(self) -> bool:
        """Input goes to this session (FOCUSED)."""
        return self.state == self._xr.SessionState.FOCUSED and not self.ended

    @property
    def visible(self) -> bool:
        """Frames rendered now are shown (VISIBLE or FOCUSED)."""
        states = (self._xr.SessionState.VISIBLE, self._xr.SessionState.FOCUSED)
        return self.state in states and not self.ended

    def poll_events(self) -> None:
        """Handle every pending runtime event (state changes, instance loss)."""
        xr = self._xr
        if self.instance is None or self.ended:
            return
        while True:
            try:
                event = xr.poll_event(self.instance)
            except xr.EventUnavailable:
                return
            except xr.exception.InstanceLostError:
                self._lose()
                return
            kind = xr.StructureType(event.type)
            if kind == xr.StructureType.EVENT_DATA_INSTANCE_LOSS_PENDING:
                self._lose()
            elif kind == xr.StructureType.EVENT_DATA_SESSION_STATE_CHANGED:
                changed = ctypes.cast(ctypes.byref(event), ctypes.POINTER(xr.EventDataSessionStateChanged)).contents
                self.handle_state(xr.SessionState(changed.state))

    def handle_state(self, state: Any) -> None:
        """Act on a new session state (``xr.SessionState``): begin, end, or note focus and visibility."""
        xr = self._xr
        self.state = state
        if state == xr.SessionState.READY and not self.running:
            xr.begin_session(self.session, xr.SessionBeginInfo(self.view_type))
            self.running = True
        elif state == xr.SessionState.STOPPING:
            self._end_session()
            self.ended = True
        elif state == xr.SessionState.EXITING:
            self.ended = True
        elif state == xr.SessionState.LOSS_PENDING:
            self._lose()
        for listener in self.on_state:
            listener(state)

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float, frame: Callable[[], None]) -> bool:
        """Run ``frame`` (one frame of the frame loop) until ``predicate()`` or the session ends; True if met."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.ended:
            frame()
            if predicate():
                return True
            if not self.running:
                time.sleep(0.01)
        return predicate()

    # ------------------------------------------------------------------ frames and poses

    def wait_frame(self) -> Any | None:
        """``xrWaitFrame`` + ``xrBeginFrame`` on this thread; the frame state, or None when no frame runs."""
        xr = self._xr
        if not self.running or self.ended:
            return None
        try:
            frame_state = xr.wait_frame(self.session)
        except (xr.exception.SessionLostError, xr.exception.InstanceLostError):
            self._lose()
            return None
        except xr.exception.SessionNotRunningError:
            self.running = False
            return None
        return frame_state if self.begin_frame(frame_state) else None

    def begin_frame(self, frame_state: Any) -> bool:
        """``xrBeginFrame`` for a frame state from ``xrWaitFrame`` (this thread's or a ``FramePacer``'s); False
        when the session no longer runs."""
        xr = self._xr
        if not self.running or self.ended:
            return False
        try:
            xr.begin_frame(self.session)
        except (xr.exception.SessionLostError, xr.exception.InstanceLostError):
            self._lose()
            return False
        except xr.exception.SessionNotRunningError:
            self.running = False
            return False
        self.display_period_s = max(frame_state.predicted_display_period, 1) * 1e-9
        self.last_display_time = frame_state.predicted_display_time
        return True

    def end_frame(self, frame_state: Any, layers: list[Any]) -> None:
        """``xrEndFrame`` with ``layers`` (byref'd composition layers) at the frame's predicted display time."""
        xr = self._xr
        try:
            xr.end_frame(
                self.session,
                xr.FrameEndInfo(
                    display_time=frame_state.predicted_display_time,
                    environment_blend_mode=xr.EnvironmentBlendMode.OPAQUE,
                    layers=layers,
                ),
            )
        except (xr.exception.SessionLostError, xr.exception.InstanceLostError):
            self._lose()

    def locate_views(self, display_time: int) -> list[Any] | None:
        """The ``xr.View`` of each eye (pose in the reference space, field of view) at ``display_time``; None while
        the head is not tracked."""
        xr = self._xr
        view_state, views = xr.locate_views(
            self.session, xr.ViewLocateInfo(self.view_type, display_time, self.space)
        )
        flags = int(view_state.view_state_flags)
        if not flags & int(xr.VIEW_STATE_POSITION_VALID_BIT) or not flags & int(xr.VIEW_STATE_ORIENTATION_VALID_BIT):
            return None
        return list(views)

    def now(self) -> int:
        """The runtime's time now (OpenXR ns) through ``XR_KHR_convert_timespec_time``; without it, the latest
        predicted display time (0 before the first frame)."""
        xr = self._xr
        if "XR_KHR_convert_timespec_time" not in self.extensions or self.instance is None:
            return self.last_display_time
        seconds = time.clock_gettime(time.CLOCK_MONOTONIC)
        spec = xr.timespec(int(seconds), int((seconds % 1.0) * 1e9))
        return int(xr.convert_timespec_time_to_time_khr(self.instance, ctypes.byref(spec)).value)

    def locate(self, space: Any, display_time: int | None = None) -> Pose | None:
        """``space``'s pose in the reference space at ``display_time`` (default: now, see ``now``); None while it
        is not tracked (or the runtime reports no usable orientation)."""
        xr = self._xr
        when = self.now() if display_time is None else display_time
        if when <= 0:
            return None
        location = xr.locate_space(space, self.space, when)
        flags = int(location.location_flags)
        valid = int(xr.SPACE_LOCATION_POSITION_VALID_BIT) | int(xr.SPACE_LOCATION_ORIENTATION_VALID_BIT)
        if flags & valid != valid:
            return None
        pose = xr_pose(location.pose)
        usable = np.isfinite(pose.position).all() and abs(np.linalg.norm(pose.quat) - 1.0) < 0.1
        return pose if usable else None

    def head(self, display_time: int | None = None) -> Pose | None:
        """The head (view space) pose in the reference space; None while not tracked."""
        return self.locate(self.view_space, display_time)

    # ------------------------------------------------------------------ ending

    def request_exit(self, timeout_s: float = 2.0, frame: Callable[[], None] | None = None) -> None:
        """Ask the runtime to stop the session and wait (running ``frame``, or bare frames) until it has."""
        xr = self._xr
        if not self.running or self.ended:
            return
        try:
            xr.request_exit_session(self.session)
        except xr.exception.XrException:
            return
        self.wait_until(lambda: self.ended, timeout_s, frame or self._empty_frame)

    def close(self) -> None:
        """Destroy the session, its spaces, the instance and the GL context (idempotent)."""
        xr = self._xr
        if self.session is not None:
            self.running = False  # xrDestroySession ends a running session too; xrEndSession is for STOPPING only
            for space in self._spaces:
                xr.destroy_space(space)
            self._spaces.clear()
            xr.destroy_session(self.session)
            self.session = None
        if self.instance is not None:
            xr.destroy_instance(self.instance)
            self.instance = None
        if self.gl is not None:
            self.gl.free()
            self.gl = None
        self.ended = True

    def _empty_frame(self) -> None:
        self.poll_events()
        frame_state = self.wait_frame()
        if frame_state is not None:
            self.end_frame(frame_state, [])

    def _end_session(self) -> None:
        if self.running:
            self.running = False
            with contextlib.suppress(self._xr.exception.XrException):  # the runtime went away: ended already
                self._xr.end_session(self.session)

    def _lose(self) -> None:
        self.lost = True
        self.ended = True
        self.running = False

    def _reference_space(self, kind: Any) -> Any:
        xr = self._xr
        space = xr.create_reference_space(
            self.session, xr.ReferenceSpaceCreateInfo(reference_space_type=kind, pose_in_reference_space=xr.Posef())
        )
        self._spaces.append(space)
        return space

    def add_space(self, space: Any) -> Any:
        """Keep ``space`` (an action space) to destroy it with the session."""
        self._spaces.append(space)
        return space
