"""The safety layer between a policy and the real follower: every action passes through it before the arm moves.

Per control step, in this order (dataset units: degrees for the body joints, gripper 0..100):

1. **NaN/inf guard**: a target with a non-finite value is replaced by the last target sent (the arm holds);
   ``max_bad_steps`` of them in a row stop the run.
2. **Joint limits**: each target is clamped to the arm's joint range (the model's, ``so101.kinematics.units``).
3. **Ramp, then step bound**: a target moves no joint more than ``ramp_step_deg`` (gripper ``ramp_step_gripper``)
   from the last target sent until the arm has caught up with the policy once (never a first-frame jump),
   then no more than ``max_step_deg`` (gripper ``max_step_gripper``) per step. Chunk boundaries that jump are
   spread over several steps by this bound.
4. **Workspace**: the end-effector (the ``gripperframe`` site, FK in the robot base frame) stays above the table
   plane (``table_z_m``) and within ``max_reach_m`` of the base; a target outside holds the last target sent.

``Watchdog`` stops the run on stale observations and ``EmergencyStop`` on a key, a file or a signal. Nothing here
talks to hardware: ``so101.inference.deploy`` applies the result, and tests drive it directly.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from so101.errors import ConfigError
from so101.kinematics.units import GRIPPER_INDEX, JointLimits, dataset_to_radians, radians_to_dataset

if TYPE_CHECKING:
    import mujoco


class SafetyStop(Exception):
    """The run must stop now (emergency stop, watchdog, repeated bad actions); the message says why."""


@dataclass
class SafetyConfig:
    """Safety settings of ``so101 deploy`` (``--safety.*``)."""

    max_step_deg: float = 4.0
    """Largest change of a body joint's target per control step (degrees; 4 at 30 Hz = 120 degrees/s)."""
    max_step_gripper: float = 8.0
    """Largest change of the gripper's target per control step (0..100 units)."""
    ramp_step_deg: float = 1.0
    """Per-step bound of the body joints from the arm's pose to the policy's first target (30 degrees/s at 30 Hz)."""
    ramp_step_gripper: float = 3.0
    """Per-step bound of the gripper during the ramp (0..100 units)."""
    table_z_m: float = 0.005
    """Lowest height of the end-effector above the table plane, the base frame's z = 0 (m)."""
    max_reach_m: float = 0.46
    """Largest distance of the end-effector from the base frame's origin (m)."""
    max_bad_steps: int = 5
    """Non-finite policy actions in a row that stop the run."""
    watchdog_s: float = 0.25
    """Observations that take longer than this to arrive (s), or camera frames older, stop the run."""

    def __post_init__(self) -> None:
        for name in ("max_step_deg", "max_step_gripper", "ramp_step_deg", "ramp_step_gripper", "max_reach_m",
                     "watchdog_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--safety.{name} must be positive, got {getattr(self, name)}")
        if self.max_bad_steps < 1:
            raise ConfigError("safety.max_bad_steps", self.max_bad_steps, "must be at least 1")


@dataclass
class SafetyResult:
    """What the layer did to one action."""

    target: np.ndarray
    """(6,) the target to send, dataset units."""
    events: list[str] = field(default_factory=list)
    """What acted: ``nan``, ``joint_limit``, ``ramp``, ``step_bound``, ``workspace``."""


class SafetyLayer:
    """Filters policy actions into targets safe to send; one instance per episode (``start`` resets it).

    Args:
        model: an MjModel holding the SO-101 (joint limits and FK; the workbench's own by default).
        config: the bounds.
    """

    def __init__(self, model: mujoco.MjModel | None = None, config: SafetyConfig | None = None) -> None:
        from so101.kinematics.fk import ForwardKinematics

        if model is None:
            from so101.sim.scene import build_scene

            model = build_scene().model
        self.config = config or SafetyConfig()
        self.model = model
        self.limits = JointLimits.from_model(model)
        bounds = radians_to_dataset(np.stack([self.limits.lower, self.limits.upper]), self.limits)
        self.lower, self.upper = bounds[0], bounds[1]
        self._fk = ForwardKinematics(model)
        self.counts: Counter[str] = Counter()
        """Steps at which each event acted in this episode (since ``start``)."""
        self._last: np.ndarray | None = None
        self._ramping = True
        self._bad_in_row = 0

    @property
    def ramping(self) -> bool:
        """Whether the arm is still ramping to the policy's targets."""
        return self._ramping

    def start(self, pose: np.ndarray) -> None:
        """Begin an episode from the arm's measured ``pose`` (dataset units): the ramp starts there."""
        self._last = np.asarray(pose, dtype=np.float64).copy()
        self._ramping = True
        self._bad_in_row = 0
        self.counts.clear()

    def end_effector(self, target: np.ndarray) -> np.ndarray:
        """The end-effector position (3,) in the base frame (m) at joint ``target`` (dataset units)."""
        return self._fk.pose(dataset_to_radians(target, self.limits)).position

    def in_workspace(self, target: np.ndarray) -> bool:
        position = self.end_effector(target)
        return bool(position[2] >= self.config.table_z_m and np.linalg.norm(position) <= self.config.max_reach_m)

    def filter(self, action: np.ndarray) -> SafetyResult:
        """The safe target for the policy's ``action`` (6,), dataset units. Call ``start`` first.

        Raises:
            SafetyStop: ``max_bad_steps`` non-finite actions in a row.
        """
        if self._last is None:
            raise RuntimeError("SafetyLayer.start(pose) must be called before filter")
        config, last = self.config, self._last
        action = np.asarray(action, dtype=np.float64)
        events: list[str] = []
        if action.shape != (6,) or not np.all(np.isfinite(action)):
            self._bad_in_row += 1
            self.counts["nan"] += 1
            if self._bad_in_row >= config.max_bad_steps:
                raise SafetyStop(f"{self._bad_in_row} non-finite policy actions in a row (last: {action})")
            return SafetyResult(last.copy(), ["nan"])
        self._bad_in_row = 0
        target = np.clip(action, self.lower, self.upper)
        if not np.array_equal(target, action):
            events.append("joint_limit")
        bound = np.full(6, config.ramp_step_deg if self._ramping else config.max_step_deg)
        bound[GRIPPER_INDEX] = config.ramp_step_gripper if self._ramping else config.max_step_gripper
        bounded = last + np.clip(target - last, -bound, bound)
        if not np.allclose(bounded, target):
            events.append("ramp" if self._ramping else "step_bound")
        elif self._ramping:
            self._ramping = False
        if not self.in_workspace(bounded):
            events.append("workspace")
            bounded = last.copy()
        self.counts.update(events)
        self._last = bounded
        return SafetyResult(bounded.copy(), events)

    def summary(self) -> str:
        """E.g. ``safety: ramp 41 steps, step bound 3, workspace 0, joint limit 0, nan 0``."""
        names = ("ramp", "step_bound", "workspace", "joint_limit", "nan")
        return "safety: " + ", ".join(f"{name.replace('_', ' ')} {self.counts[name]}" for name in names)


class Watchdog:
    """Stops the run when an observation arrives late: the robot's reading or a camera frame is stale.

    A failed bus read (a corrupted or lost reply, ``ConnectionError`` from LeRobot's bus) is retried while the
    timeout allows, as a real bus drops a packet now and then; a bus that stays silent stops the run.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.retries = 0
        """Bus reads retried since the watchdog was made."""

    def read(self, get_observation: Any) -> dict[str, Any]:
        """``get_observation()``, raising ``SafetyStop`` when it takes longer than the timeout or a camera
        reports a stale frame (LeRobot cameras raise TimeoutError)."""
        start = time.perf_counter()
        while True:
            try:
                observation = get_observation()
                break
            except TimeoutError as error:
                raise SafetyStop(f"watchdog: stale observation ({error})") from error
            except ConnectionError as error:
                if time.perf_counter() - start > self.timeout_s:
                    raise SafetyStop(f"watchdog: the follower does not answer ({error})") from error
                self.retries += 1
        elapsed = time.perf_counter() - start
        if elapsed > self.timeout_s:
            raise SafetyStop(
                f"watchdog: the observation took {1000 * elapsed:.0f} ms (limit {1000 * self.timeout_s:.0f} ms, "
                "--safety.watchdog_s)"
            )
        return observation


class EmergencyStop:
    """Stops the run on any key pressed in the terminal, on ``stop_file`` appearing, or on SIGUSR1.

    Without a terminal on stdin (a service, a test), ``touch STOP_FILE`` or ``kill -USR1 PID`` stop the arm.
    Use as a context manager: the terminal is put in cbreak mode (keys arrive without Enter) and restored.
    """

    def __init__(self, stop_file: Path | None = None) -> None:
        self.stop_file = Path(stop_file) if stop_file is not None else None
        self._signalled = False
        self._tty_attributes: list[Any] | None = None
        self._previous_handler: Any = None

    def how(self) -> str:
        """The ways to stop, for the start-up message."""
        ways = ["any key in this terminal"] if self._tty_attributes is not None else []
        if self.stop_file is not None:
            ways.append(f"touch {self.stop_file}")
        ways.append(f"kill -USR1 {os.getpid()}")
        return ", ".join(ways)

    def __enter__(self) -> EmergencyStop:
        if sys.stdin is not None and sys.stdin.isatty():
            import termios
            import tty

            self._tty_attributes = termios.tcgetattr(sys.stdin)
            tty.setcbreak(sys.stdin)
        if self.stop_file is not None and self.stop_file.exists():
            self.stop_file.unlink()
        self._previous_handler = signal.signal(signal.SIGUSR1, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGUSR1, self._previous_handler)
        if self._tty_attributes is not None:
            import termios

            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, self._tty_attributes)
            self._tty_attributes = None

    def _on_signal(self, _signum: int, _frame: Any) -> None:
        self._signalled = True

    def check(self) -> None:
        """Raise ``SafetyStop`` if a stop was asked for since the last check."""
        if self._signalled:
            raise SafetyStop("emergency stop: SIGUSR1")
        if self.stop_file is not None and self.stop_file.exists():
            raise SafetyStop(f"emergency stop: {self.stop_file} appeared")
        if self._tty_attributes is not None and select.select([sys.stdin], [], [], 0)[0]:
            key = os.read(sys.stdin.fileno(), 1)
            raise SafetyStop(f"emergency stop: key {key!r} pressed")
