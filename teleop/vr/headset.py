"""A headset session for teleoperation: the OpenXR session, the stereo view, the controllers and keyboard fallbacks.

``Headset`` is what the VR source (``--teleop vr``) and a headset view for another source (``--view vr``) share.
``sample()`` reads the controllers, merges the keyboard fallbacks of the mirror window (Enter start/save,
Backspace re-record, C recenter, Q stop, Space clutch, G close the gripper) and the keys typed in the terminal
(``keys``, ``so101.teleop.vr.terminal``), and passes the result through ``input_filter`` (None: unchanged): the one
path every button state takes, whoever pressed it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from so101.errors import ConfigError
from so101.sim.rendering import RenderProfile
from so101.sim.simulator import So101Sim
from so101.teleop.vr.actions import ControllerActions, ControllerSample, Hand
from so101.teleop.vr.anchor import WorkspaceAnchor, WorkspacePlacement
from so101.teleop.vr.clutch import ClutchConfig
from so101.teleop.vr.gl import GraphicsName
from so101.teleop.vr.terminal import TerminalKeys

START_TIMEOUT_S = 30.0
"""How long to wait for the runtime to start the session (s): a person may still be putting the headset on."""

_KEYS = {"ENTER": "start_save", "BACKSPACE": "rerecord", "C": "recenter", "Q": "stop", "ESCAPE": "stop"}


@dataclass
class VRConfig:
    """Options of the VR headset and controllers (``--vr.*``)."""

    hand: Hand = "right"
    """The controller that drives the arm (its grip is the clutch, its trigger the gripper)."""
    motion_scale: float = 0.5
    """Gripper motion per metre of hand motion while the clutch is held (the hand's comfortable sweep, about
    0.7 m, against the arm's reach, about 0.35 m)."""
    follow_orientation: bool = True
    """Turn the gripper with the hand (best effort for the 5-joint arm)."""
    gripper_speed: float = 200.0
    """Fastest gripper change driven by the trigger (dataset units per second; 100 is fully open)."""
    max_joint_step_deg: float = 6.0
    """Largest change of any joint target per control step (degrees): no jump, however fast the hand."""
    graphics: Literal["auto", "glx", "wgl", "egl"] = "auto"
    """OpenGL binding: auto (from what the runtime offers), glx (Linux X11), wgl (Windows), egl (headless)."""
    mirror: bool = True
    """Show the left eye in a desktop window (GLX/WGL bindings); its keys are the keyboard fallbacks."""
    render_profile: Literal["fast", "quality"] = "quality"
    """``quality`` (shadows, antialiasing) on a desktop GPU; ``fast`` for weak or software GL."""
    distance_m: float = 0.35
    """Recenter: horizontal distance from the eyes to the arm's base (m)."""
    table_below_eyes_m: float = 0.45
    """Recenter: height of the eyes above the table top (m): 0.45 seated at a desk, about 0.8 standing."""

    def __post_init__(self) -> None:
        self.clutch()
        self.placement()
        if self.max_joint_step_deg <= 0:
            raise ConfigError("vr.max_joint_step_deg", self.max_joint_step_deg, "must be positive")

    def clutch(self) -> ClutchConfig:
        return ClutchConfig(self.motion_scale, self.follow_orientation, self.gripper_speed)

    def placement(self) -> WorkspacePlacement:
        return WorkspacePlacement(self.distance_m, self.table_below_eyes_m)


class Headset:
    """An OpenXR session showing ``sim``, with the controllers' actions; started by ``start``.

    Args:
        config: the ``--vr.*`` options.
        sim: the simulation shown.
        capture: keep each eye's last image (tests, checks).
    """

    def __init__(self, config: VRConfig, sim: So101Sim, capture: bool = False) -> None:
        from so101.teleop.vr.session import XrSession
        from so101.teleop.vr.view import StereoView

        self.config = config
        graphics: GraphicsName = config.graphics
        self.session = XrSession(graphics, mirror=config.mirror)
        try:
            self.actions = ControllerActions(self.session, config.hand)
            profile: RenderProfile = config.render_profile
            self.view = StereoView(sim, self.session, WorkspaceAnchor(config.placement()), profile, capture)
        except BaseException:
            self.session.close()
            raise
        self.input_filter: Callable[[ControllerSample], ControllerSample] | None = None
        """Applied to every sample before use: tests press buttons a simulated controller cannot."""
        self.keys: TerminalKeys | None = None
        """Keys typed in the terminal (set by the VR source): one per sample, as a tap."""
        self._closed = False

    def start(self, timeout_s: float = START_TIMEOUT_S) -> bool:
        """Run frames until the session is focused; False if it ended or the time ran out."""
        return self.session.wait_until(lambda: self.session.focused, timeout_s, self.view.draw_wait)

    def sample(self) -> ControllerSample:
        """The controllers now, with the keyboard fallbacks and a terminal key merged and ``input_filter`` applied."""
        sample = self.actions.read()
        keys = self._held_keys()
        if keys:
            sample = replace(
                sample,
                buttons=sample.buttons | (keys - {"clutch", "close"}),
                clutch=1.0 if "clutch" in keys else sample.clutch,
                trigger=1.0 if "close" in keys else sample.trigger,
            )
        typed = self.keys.take() if self.keys is not None else None
        if typed is not None:
            sample = replace(sample, taps=sample.taps | {typed})
        return self.input_filter(sample) if self.input_filter is not None else sample

    def _held_keys(self) -> set[str]:
        gl = self.session.gl
        window = None if gl is None else gl.window
        if window is None:
            return set()
        import glfw

        held = {name for key, name in _KEYS.items() if glfw.get_key(window, getattr(glfw, f"KEY_{key}")) == glfw.PRESS}
        if glfw.get_key(window, glfw.KEY_SPACE) == glfw.PRESS:
            held.add("clutch")
        if glfw.get_key(window, glfw.KEY_G) == glfw.PRESS:
            held.add("close")
        if glfw.window_should_close(window):
            held.add("stop")
        return held

    def interaction_profile(self) -> str:
        return self.actions.interaction_profile()

    def close(self) -> None:
        """End the session cleanly (the runtime's STOPPING first) and free everything (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self.session.lost:
                self.session.request_exit(frame=self.view.draw_wait)
        finally:
            self.view.close()
            self.session.close()  # destroying the instance destroys the action set
