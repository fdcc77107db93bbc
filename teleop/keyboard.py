"""Keyboard teleoperation in the viewer window: jog the gripper in end-effector space through the IK.

Held keys move the ``gripperframe`` site at a steady speed: W/S forward/back (+-x of the arm's base), A/D left/
right (+-y), R/F up/down (+-z), I/K pitch the fingers up/down, J/L roll the gripper; O/C open/close the gripper.
Each frame the target is the pose of the joints commanded last frame moved by the held keys, so an orientation a
5-joint arm cannot take is simply not taken, instead of piling up error. Episode keys: Enter starts an episode and,
while recording, saves it; Backspace records it again from the same scene; Q (or closing the window) stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kinematics.fk import ForwardKinematics, quat_multiply
from kinematics.units import GRIPPER_INDEX, dataset_to_radians, radians_to_dataset
from teleop.action_source import ActionSource, EpisodeCommand

if TYPE_CHECKING:
    from kinematics.ik import IKSolver
    from sim.simulator import So101Sim
    from sim.viewer import Viewer

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
    window_height: int = 720
    window_profile: str = "fast"
    """Render profile of the window (``fast`` or ``quality``)."""

    def __post_init__(self) -> None:
        if min(self.linear_speed, self.angular_speed, self.gripper_speed) <= 0:
            raise ValueError("keyboard jog speeds must be positive")


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
        self._ik: IKSolver | None = None
        self._fk: ForwardKinematics | None = None
        self._command = EpisodeCommand.CONTINUE
        self._waiting = False
        self._started = False
        self._targets = np.zeros(6)

    # ------------------------------------------------------------------ ActionSource

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

    def next_action(self, sim: So101Sim) -> np.ndarray:
        assert self._viewer is not None and self._ik is not None and self._fk is not None
        cfg, dt = self.config, sim.control_dt
        held = self._held_axes()
        limits = sim.scene.limits
        q = dataset_to_radians(self._targets, limits)
        if np.any(held[:5]):
            pos, quat = self._fk.pose(q)
            pos = pos + held[:3] * cfg.linear_speed * dt
            quat = self._turned(quat, pos, held[3] * cfg.angular_speed * dt, held[4] * cfg.angular_speed * dt)
            solution, _ = self._ik.solve(pos, quat, q)
            q[:GRIPPER_INDEX] = solution[:GRIPPER_INDEX]
        targets = radians_to_dataset(q, limits)
        targets[GRIPPER_INDEX] = float(
            np.clip(self._targets[GRIPPER_INDEX] + held[5] * cfg.gripper_speed * dt, 0.0, 100.0)
        )
        self._targets = targets
        signals = sim.signals
        self._viewer.status_lines = [
            f"RECORDING  t {sim.steps * dt:5.1f} s   Enter: save   Backspace: re-record   Q: stop",
            (
                f"grasped {signals.grasped}  lifted {signals.lifted}  over bowl {signals.over_bowl}  "
                f"success {signals.success}"
            ),
            JOG_HELP,
        ]
        self._viewer.draw()
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

            from kinematics.ik import IKConfig, IKSolver

            viewer = self._make_viewer(sim)
            viewer.add_key(glfw.KEY_ENTER, "Enter  start / save episode", self._on_enter)
            viewer.add_key(glfw.KEY_BACKSPACE, "Backspace  re-record", self._on_rerecord)
            viewer.add_key(glfw.KEY_Q, "Q  stop session", self._on_stop)
            self._viewer = viewer
            # Small joint steps per frame: warm solves stay in their IK branch instead of jumping to another.
            self._ik = IKSolver(sim.model, IKConfig(restart_warm=False))
            self._fk = ForwardKinematics(sim.model)
            self._keys = {getattr(glfw, f"KEY_{name}"): axis for name, axis in _JOG_KEYS.items()}
        return self._viewer

    def _make_viewer(self, sim: So101Sim) -> Viewer:
        from sim.viewer import Viewer

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

    @staticmethod
    def _turned(quat: np.ndarray, pos: np.ndarray, pitch: float, roll: float) -> np.ndarray:
        """``quat`` pitched about the horizontal axis across the arm's reach, then rolled about the gripper's x."""
        if pitch:
            reach = math.atan2(pos[1], pos[0])
            axis = np.array([-math.sin(reach), math.cos(reach), 0.0])
            turn = np.concatenate([[math.cos(pitch / 2)], math.sin(pitch / 2) * axis])
            quat = quat_multiply(turn, quat)
        if roll:
            # Right-multiplying turns about the gripper's own x axis (out of the fingers).
            quat = quat_multiply(quat, np.array([math.cos(roll / 2), math.sin(roll / 2), 0.0, 0.0]))
        return quat / np.linalg.norm(quat)
