"""Keyboard teleoperation in the viewer window: jog the gripper in end-effector space.

Held keys move the ``gripperframe`` site at a steady speed: W/S forward/back (+-x of the arm's base), A/D left/
right (+-y), R/F up/down (+-z), I/K pitch the fingers up/down, J/L roll the gripper; O/C open/close the gripper.
The end-effector controller (``so101.kinematics.ee_controller``) turns the motion into joint targets. Each control step
it latches the joints commanded last and moves by what the held keys add in one step, so an orientation a 5-joint
arm cannot take is simply not taken, instead of piling up error; a target out of reach holds the arm and says so.
Episode keys: Enter starts an episode and, while recording, saves it; Backspace records it again from the same
scene; Q (or closing the window) stops.

The window is this source's ``view``: the episode loop's control clock draws it between control steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from so101.kinematics.units import GRIPPER_INDEX
from so101.teleop.action_source import ActionSource, EpisodeCommand

if TYPE_CHECKING:
    from so101.kinematics.ee_controller import EndEffectorController
    from so101.sim.control_loop import View
    from so101.sim.simulator import So101Sim
    from so101.sim.viewer import Viewer

JOG_HELP = "W/S fwd/back  A/D left/right  R/F up/down  I/K pitch  J/L roll  O/C open/close"


@dataclass
class KeyboardConfig:
    """Jog speeds of keyboard teleoperation and its window."""

    linear_speed: float = 0.06
    """Gripper speed while a move key is held (m/s)."""
    angular_speed: float = 0.8
    """Turning speed while a pitch or roll key is held (rad/s)."""
    gripper_speed: float = 80.0
    """Gripper opening speed while O or C is held (dataset units per second)."""
    window_width: int = 1280
    """Width of the window (pixels)."""
    window_height: int = 720
    """Height of the window (pixels)."""
    window_profile: str = "fast"
    """Render profile of the window (``fast`` or ``quality``)."""

    def __post_init__(self) -> None:
        if min(self.linear_speed, self.angular_speed, self.gripper_speed) <= 0:
            raise ValueError(
                "--keyboard.linear_speed, --keyboard.angular_speed and --keyboard.gripper_speed must be positive"
            )


# glfw key name -> (axis index in [x, y, z, pitch, roll, gripper], sign)
_JOG_KEYS: dict[str, tuple[int, float]] = {
    "W": (0, 1.0),
    "S": (0, -1.0),
    "A": (1, 1.0),
    "D": (1, -1.0),
    "R": (2, 1.0),
    "F": (2, -1.0),
    "I": (3, -1.0),
    "K": (3, 1.0),
    # Turning about the site's +x (out of the fingers) turns wrist_roll negative: L turns the joint positive.
    "J": (4, 1.0),
    "L": (4, -1.0),
    "O": (5, 1.0),
    "C": (5, -1.0),
}


class KeyboardTeleop(ActionSource):
    """Joint targets from held keys in the viewer window; the window opens at the first episode."""

    name = "keyboard"
    realtime = True

    def __init__(self, config: KeyboardConfig | None = None) -> None:
        self.config = config or KeyboardConfig()
        self._viewer: Viewer | None = None
        self._controller: EndEffectorController | None = None
        self._reachable = True
        self._command = EpisodeCommand.CONTINUE
        self._waiting = False
        self._started = False
        self._targets = np.zeros(6)

    # ------------------------------------------------------------------ ActionSource

    @property
    def view(self) -> View | None:
        """The viewer window once it is open (at the first episode)."""
        return self._viewer

    def wait_for_start(self, sim: So101Sim) -> bool:
        viewer = self._open(sim)
        self._waiting, self._started = True, False
        self._command = EpisodeCommand.CONTINUE
        while not self._started:
            if viewer.should_close or self._command is EpisodeCommand.STOP:
                return False
            viewer.status_lines = ["Enter: start recording this scene     Q: quit", JOG_HELP]
            viewer.draw()
        self._waiting = False
        return True

    def start_episode(self, sim: So101Sim) -> None:
        self._open(sim)
        self._command = EpisodeCommand.CONTINUE
        self._targets = sim.commanded_targets()
        self._reachable = True

    def next_action(self, sim: So101Sim) -> np.ndarray:
        """Targets moved by the keys held now; updates the window's status lines (the control clock draws it)."""
        assert self._viewer is not None and self._controller is not None
        cfg, dt = self.config, sim.control_dt
        held = self._held_axes()
        targets = self._targets.copy()
        if np.any(held[:5]):
            reference = self._controller.latch(targets)
            # Pitch turns about the horizontal axis across the arm's reach, roll about the gripper's own x axis.
            reach = math.atan2(reference.position[1], reference.position[0])
            pitch_axis = np.array([-math.sin(reach), math.cos(reach), 0.0])
            result = self._controller.move(
                translation=held[:3] * cfg.linear_speed * dt,
                rotation=pitch_axis * held[3] * cfg.angular_speed * dt,
                tool_rotation=np.array([held[4] * cfg.angular_speed * dt, 0.0, 0.0]),
            )
            targets, self._reachable = result.targets, result.ok
        targets[GRIPPER_INDEX] = float(
            np.clip(targets[GRIPPER_INDEX] + held[5] * cfg.gripper_speed * dt, 0.0, 100.0)
        )
        self._targets = targets
        signals = sim.signals
        self._viewer.status_lines = [
            f"RECORDING  t {sim.steps * dt:5.1f} s   Enter: save   Backspace: re-record   Q: stop",
            (
                f"grasped {signals.grasped}  lifted {signals.lifted}  over bowl {signals.over_bowl}  "
                f"success {signals.success}" + ("" if self._reachable else "   OUT OF REACH: holding")
            ),
            JOG_HELP,
        ]
        return targets.copy()

    def poll_command(self) -> EpisodeCommand:
        if self._viewer is not None and self._viewer.should_close:
            return EpisodeCommand.STOP
        command, self._command = self._command, EpisodeCommand.CONTINUE
        return command

    def close(self) -> None:
        if self._viewer is not None:
            self._viewer.shutdown()
            self._viewer = None

    # ------------------------------------------------------------------ window and keys

    def _open(self, sim: So101Sim) -> Viewer:
        if self._viewer is None:
            import glfw

            from so101.kinematics.ee_controller import EndEffectorController

            viewer = self._make_viewer(sim)
            viewer.add_key(glfw.KEY_ENTER, "Enter  start / save episode", self._on_enter)
            viewer.add_key(glfw.KEY_BACKSPACE, "Backspace  re-record", self._on_rerecord)
            viewer.add_key(glfw.KEY_Q, "Q  stop session", self._on_stop)
            self._viewer = viewer
            self._controller = EndEffectorController(sim.model)
            self._keys = {getattr(glfw, f"KEY_{name}"): axis for name, axis in _JOG_KEYS.items()}
        return self._viewer

    def _make_viewer(self, sim: So101Sim) -> Viewer:
        from so101.sim.viewer import Viewer

        cfg = self.config
        profile = cfg.window_profile
        return Viewer(sim, "so101 record (keyboard)", cfg.window_width, cfg.window_height, profile)  # type: ignore[arg-type]

    def _held_axes(self) -> np.ndarray:
        """-1, 0 or 1 per jog axis [x, y, z, pitch, roll, gripper] from the keys held now."""
        assert self._viewer is not None
        held = np.zeros(6)
        for key, (axis, sign) in self._keys.items():
            if self._viewer.is_pressed(key):
                held[axis] += sign
        return held

    def _on_enter(self) -> None:
        if self._waiting:
            self._started = True
        else:
            self._command = EpisodeCommand.SAVE

    def _on_rerecord(self) -> None:
        if not self._waiting:
            self._command = EpisodeCommand.RERECORD

    def _on_stop(self) -> None:
        self._command = EpisodeCommand.STOP
