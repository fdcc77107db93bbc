"""Controller input through OpenXR actions: hand poses, the clutch, the trigger, the episode buttons, haptics.

One action set, with suggested bindings for the common interaction profiles; the runtime picks the one that fits
the controllers in hand (and remaps the others). The controlling hand (``--vr.hand``) moves the arm: its grip
pose, its squeeze (the clutch) and its trigger (the gripper). Buttons:

========================  ===============  ===============  ===================  ==================
action                    oculus/touch     valve/index      htc/vive             khr/simple
========================  ===============  ===============  ===================  ==================
clutch (hold)             squeeze          squeeze          squeeze              select
gripper (analog)          trigger          trigger          trigger              (none)
start / save episode      A                A (right)        right menu           right menu
re-record episode         B                B (right)        left menu            left menu
recenter workspace        X                A (left)         left trackpad click  (keyboard)
stop session              Y                B (left)         (keyboard)           (keyboard)
========================  ===============  ===============  ===================  ==================

``read`` turns the runtime's action states into a ``ControllerSample``; the VR source consumes samples, whatever
made them (the runtime, or a test injecting button states that a simulated controller cannot press).
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from so101.kinematics.pose import Pose

if TYPE_CHECKING:
    from so101.teleop.vr.session import XrSession

Hand = Literal["left", "right"]
BUTTONS = ("start_save", "rerecord", "recenter", "stop")
"""The episode buttons, in the order the manual's controller map (docs/vr.md) lists them."""

_HAND_BUTTON_BINDINGS: dict[str, dict[str, str]] = {
    "/interaction_profiles/oculus/touch_controller": {
        "start_save": "/user/hand/right/input/a/click",
        "rerecord": "/user/hand/right/input/b/click",
        "recenter": "/user/hand/left/input/x/click",
        "stop": "/user/hand/left/input/y/click",
    },
    "/interaction_profiles/valve/index_controller": {
        "start_save": "/user/hand/right/input/a/click",
        "rerecord": "/user/hand/right/input/b/click",
        "recenter": "/user/hand/left/input/a/click",
        "stop": "/user/hand/left/input/b/click",
    },
    "/interaction_profiles/htc/vive_controller": {
        "start_save": "/user/hand/right/input/menu/click",
        "rerecord": "/user/hand/left/input/menu/click",
        "recenter": "/user/hand/left/input/trackpad/click",
    },
    "/interaction_profiles/khr/simple_controller": {
        "start_save": "/user/hand/right/input/menu/click",
        "rerecord": "/user/hand/left/input/menu/click",
    },
}
_SQUEEZE = {
    "/interaction_profiles/oculus/touch_controller": "squeeze/value",
    "/interaction_profiles/valve/index_controller": "squeeze/value",
    "/interaction_profiles/htc/vive_controller": "squeeze/click",
    "/interaction_profiles/khr/simple_controller": "select/click",
}
_HAS_TRIGGER = {"oculus/touch_controller", "valve/index_controller", "htc/vive_controller"}
CLUTCH_THRESHOLD = 0.5
"""Squeeze travel (0..1) above which the clutch counts as held."""


@dataclass
class ControllerSample:
    """One reading of the controllers: what the VR source consumes each control step."""

    time_s: float
    """``time.perf_counter()`` when the sample was read."""
    hand: Pose | None
    """The controlling hand's grip pose in the reference space (m, ``[w, x, y, z]``); None while not tracked."""
    clutch: float = 0.0
    """Squeeze travel 0..1 (held above ``CLUTCH_THRESHOLD``)."""
    trigger: float = 0.0
    """Trigger travel 0 (released) .. 1 (pulled)."""
    buttons: frozenset[str] = field(default_factory=frozenset)
    """Names (``BUTTONS``) of the buttons held now."""
    taps: frozenset[str] = field(default_factory=frozenset)
    """Names of buttons pressed and released since the last sample (keys typed in the terminal): each acts once,
    whatever is held."""


class ControllerActions:
    """The action set of a session; attach it before the session begins (right after creating the session).

    Args:
        session: the OpenXR session.
        hand: the controlling hand.
    """

    def __init__(self, session: XrSession, hand: Hand = "right") -> None:
        import xr

        self._xr = xr
        self.session = session
        instance = session.instance
        self.hand = hand
        self._hands = {name: xr.string_to_path(instance, f"/user/hand/{name}") for name in ("left", "right")}
        self.action_set = xr.create_action_set(
            instance, xr.ActionSetCreateInfo(action_set_name="so101", localized_action_set_name="SO-101 teleop")
        )
        both = list(self._hands.values())
        kind = xr.ActionType

        def action(name: str, action_type: Any, label: str) -> Any:
            return xr.create_action(
                self.action_set,
                xr.ActionCreateInfo(
                    action_type=action_type,
                    action_name=name,
                    localized_action_name=label,
                    count_subaction_paths=len(both),
                    subaction_paths=(xr.Path * len(both))(*both),
                ),
            )

        self.pose_action = action("hand_pose", kind.POSE_INPUT, "Hand pose")
        self.clutch_action = action("clutch", kind.FLOAT_INPUT, "Clutch")
        self.trigger_action = action("gripper", kind.FLOAT_INPUT, "Gripper")
        self.button_actions = {name: action(name, kind.BOOLEAN_INPUT, name.replace("_", " ")) for name in BUTTONS}
        self.haptic_action = action("haptic", kind.VIBRATION_OUTPUT, "Haptic pulse")
        for profile in _HAND_BUTTON_BINDINGS:
            self._suggest(profile)
        xr.attach_session_action_sets(
            session.session,
            xr.SessionActionSetsAttachInfo(count_action_sets=1, action_sets=ctypes.pointer(self.action_set)),
        )
        self.hand_space = session.add_space(
            xr.create_action_space(
                session.session,
                xr.ActionSpaceCreateInfo(
                    action=self.pose_action, subaction_path=self._hands[hand], pose_in_action_space=xr.Posef()
                ),
            )
        )

    def _suggest(self, profile: str) -> None:
        xr = self._xr
        instance = self.session.instance
        pairs: list[tuple[Any, str]] = []
        short = profile.removeprefix("/interaction_profiles/")
        for hand in ("left", "right"):
            prefix = f"/user/hand/{hand}/input/"
            pairs.append((self.pose_action, prefix + "grip/pose"))
            pairs.append((self.clutch_action, prefix + _SQUEEZE[profile]))
            if short in _HAS_TRIGGER:
                pairs.append((self.trigger_action, prefix + "trigger/value"))
            pairs.append((self.haptic_action, f"/user/hand/{hand}/output/haptic"))
        pairs += [(self.button_actions[name], path) for name, path in _HAND_BUTTON_BINDINGS[profile].items()]
        bindings = (xr.ActionSuggestedBinding * len(pairs))(
            *(xr.ActionSuggestedBinding(a, xr.string_to_path(instance, path)) for a, path in pairs)
        )
        xr.suggest_interaction_profile_bindings(
            instance,
            xr.InteractionProfileSuggestedBinding(
                interaction_profile=xr.string_to_path(instance, profile),
                count_suggested_bindings=len(pairs),
                suggested_bindings=bindings,
            ),
        )

    def read(self) -> ControllerSample:
        """Sync the actions and read the controlling hand's state; an empty sample unless the session is focused."""
        xr, session = self._xr, self.session
        now = time.perf_counter()
        if not session.focused:
            return ControllerSample(now, None)
        active = xr.ActiveActionSet(self.action_set, xr.NULL_PATH)
        sync = xr.ActionsSyncInfo(count_active_action_sets=1, active_action_sets=ctypes.pointer(active))
        xr.sync_actions(session.session, sync)
        hand_path = self._hands[self.hand]

        def value(action: Any) -> float:
            state = xr.get_action_state_float(session.session, xr.ActionStateGetInfo(action, hand_path))
            return float(state.current_state) if state.is_active else 0.0

        held = set()
        for name, button in self.button_actions.items():
            state = xr.get_action_state_boolean(session.session, xr.ActionStateGetInfo(button, xr.NULL_PATH))
            if state.is_active and state.current_state:
                held.add(name)
        return ControllerSample(
            now, session.locate(self.hand_space), value(self.clutch_action), value(self.trigger_action), frozenset(held)
        )

    def interaction_profile(self) -> str:
        """The interaction profile the runtime bound to the controlling hand (empty before it has)."""
        xr = self._xr
        try:
            state = xr.get_current_interaction_profile(self.session.session, self._hands[self.hand])
        except xr.exception.XrException:
            return ""
        profile = state.interaction_profile
        return xr.path_to_string(self.session.instance, profile) if profile else ""

    def pulse(self, duration_s: float = 0.08, amplitude: float = 0.6) -> bool:
        """A short haptic pulse on the controlling hand (success, saved); True if the runtime took it. Nothing
        unless focused; a refusal is ignored, as a missed pulse must never end a recording."""
        xr = self._xr
        if not self.session.focused:
            return False
        vibration = xr.HapticVibration(duration=int(duration_s * 1e9), frequency=xr.FREQUENCY_UNSPECIFIED,
                                       amplitude=amplitude)  # fmt: skip
        info = xr.HapticActionInfo(action=self.haptic_action, subaction_path=self._hands[self.hand])
        try:
            xr.apply_haptic_feedback(self.session.session, info, vibration)
        except xr.exception.XrException:
            return False
        return True
