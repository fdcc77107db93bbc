"""``so101 teleop``: drive the simulated SO-101 from a teleoperation device in real time, without recording.

    so101 teleop --teleop leader --leader.port /dev/ttyACM0 --leader.id my_leader
    so101 teleop --teleop leader --leader.port /dev/ttyACM0 --leader.id my_leader --check
    so101 teleop ... --leader.overrides_path my_leader_overrides.json --headless --duration_s 60
    so101 teleop --teleop leader --leader.port /dev/ttyACM0 --leader.id my_leader --view vr   (the scene in a headset)

No arm at hand: ``so101 emulate leader`` serves an emulated one and prints the command to try.

The sim steps once per control period (1/fps s of sim time per 1/fps s of wall time, paced by
``so101.sim.control_loop.ControlClock``) with the device's latest reading as joint targets. With a display the scene is
shown in a window, drawn by the clock between control ticks (keys: R new scene, 0-3 cameras, Esc quit);
``--headless`` or no display runs without one. At the end the device's health and the clock's late ticks are
printed.

``--check`` prints, every half second, what LeRobot reads from each leader joint, the sign and offset overrides,
the resulting target and the simulated joint. Put the leader in a known pose (e.g. the sim's start pose) and
compare: a target of the wrong sign calls for ``"sign": -1``, a constant difference for an ``offset``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TextIO

import numpy as np

from so101.command import run_command
from so101.errors import ConfigError, DeviceError
from so101.kinematics.units import JOINT_NAMES, radians_to_dataset
from so101.sim.options import SceneOptions
from so101.teleop.leader import JointOverrides, LeaderConfig
from so101.teleop.vr.headset import Headset, VRConfig

if TYPE_CHECKING:
    from so101.sim.control_loop import ControlClock
    from so101.sim.simulator import So101Sim
    from so101.sim.viewer import Viewer
    from so101.teleop.leader_source import LeaderSource

CHECK_PERIOD_S = 0.5
"""How often ``--check`` prints its table (s)."""


@dataclass
class TeleopConfig:
    """Options of ``so101 teleop``."""

    teleop: Literal["leader"] = "leader"
    """The device that drives the sim: ``leader`` (a physical SO-100/SO-101 leader arm, or an emulated one)."""
    leader: LeaderConfig = field(default_factory=LeaderConfig)
    """The leader arm (``--leader.port``, ``--leader.id``, ...)."""
    scene: SceneOptions = field(default_factory=SceneOptions)
    """The scene; ``--scene.fps`` is the control rate: leader reads and sim steps per second."""
    check: bool = False
    """Print leader readings and sim joints side by side every half second, to set the overrides."""
    headless: bool = False
    """Run without a window even when a display is available."""
    view: Literal["window", "vr"] = "window"
    """Where the scene shows: ``window`` (a desktop window when a display exists) or ``vr`` (an OpenXR headset;
    its stop button, Y or Q in the mirror window, ends the run)."""
    vr: VRConfig = field(default_factory=VRConfig)
    """The headset of ``--view vr`` (``--vr.graphics``, ``--vr.render_profile``, ...)."""
    duration_s: float | None = None
    """Stop after this much time (s); default: run until Esc, Ctrl-C or the window is closed."""
    seed: int = 0
    """Scene seed (brick and bowl placement); R in the window draws the next one."""

    def __post_init__(self) -> None:
        if self.duration_s is not None and self.duration_s <= 0:
            raise ConfigError("duration_s", self.duration_s, "must be positive")


def teleop(cfg: TeleopConfig) -> int:
    """Body of ``so101 teleop``: connect the device, then drive the sim until the end.

    Raises:
        PortError, CalibrationError: the leader cannot be used; LeaderDisconnected: it went away mid-run.
    """
    from so101.sim.control_loop import ControlClock
    from so101.sim.simulator import So101Sim
    from so101.teleop.leader_source import LeaderSource

    source = LeaderSource(cfg.leader)
    clock = None
    viewer = None
    headset = None
    try:
        sim = So101Sim(cfg.scene.scene_config())
        sim.reset(cfg.seed)
        if cfg.view == "vr":
            headset = Headset(cfg.vr, sim)
            if not headset.start():
                raise DeviceError(
                    "the headset's session did not start: put the headset on and keep its runtime running"
                )
        else:
            viewer = None if cfg.headless else _open_viewer(sim)
        clock = ControlClock(sim.fps, view=headset.view if headset is not None else viewer)
        run(source, sim, cfg, clock, viewer, headset)
    finally:
        source.close()
        if viewer is not None:
            viewer.shutdown()
        if headset is not None:
            headset.close()
        print(source.report())
        if clock is not None:
            print(f"control loop: {clock.summary()}")
    return 0


def run(
    source: LeaderSource,
    sim: So101Sim,
    cfg: TeleopConfig,
    clock: ControlClock,
    viewer: Viewer | None,
    headset: Headset | None = None,
) -> None:
    """Step ``sim`` from ``source`` once per tick of ``clock`` until ``cfg.duration_s`` has passed, the window
    closes or the headset's stop button is pressed (or its session ends); ``viewer`` or ``headset`` (the clock's
    view, or neither) shows the scene.

    Raises:
        LeaderDisconnected: the leader went away.
    """
    steps = None if cfg.duration_s is None else round(cfg.duration_s * sim.fps)
    seed = cfg.seed
    if viewer is not None:
        import glfw

        def new_scene() -> None:
            nonlocal seed
            seed += 1
            sim.reset(seed)

        viewer.add_key(glfw.KEY_R, "R  new scene", new_scene)
    table = None
    if cfg.check:
        limits = sim.scene.limits
        lower, upper = radians_to_dataset(limits.lower, limits), radians_to_dataset(limits.upper, limits)
        table = CheckTable(sys.stdout, source.arm.overrides, lower, upper)
    next_table = time.perf_counter()
    step = 0
    clock.restart()
    while (steps is None or step < steps) and not (viewer is not None and viewer.should_close):
        if headset is not None and (headset.session.ended or "stop" in headset.sample().buttons):
            break
        target = source.next_action(sim)
        sim.step(target)
        step += 1
        if headset is not None:
            headset.view.status_lines = [f"leader teleop   seed {seed}   t = {sim.steps * sim.control_dt:5.1f} s"]
        if viewer is not None:
            stats = source.stats
            viewer.status_lines = [
                f"leader teleop   seed {seed}   t = {sim.steps * sim.control_dt:5.1f} s",
                f"reads {stats.reads}   retried {stats.retries}   stale {stats.stale_reads}",
            ]
        if table is not None and time.perf_counter() >= next_table:
            table.show(source.last_reading, target, sim.joint_positions())
            next_table += CHECK_PERIOD_S
        clock.wait()
    if table is not None and step > 0:  # the state the run ended in, however the last period fell
        table.show(source.last_reading, target, sim.joint_positions())


class CheckTable:
    """The ``--check`` table, redrawn in place on a terminal and appended otherwise (logs, tests).

    Args:
        out: where to print.
        overrides: the leader's sign and offset overrides, shown next to each reading.
        lower, upper: (6,) the sim's joint limits in dataset units: the sim clamps targets to them, and the table
            shows a clamped target with a ``*``.
    """

    def __init__(self, out: TextIO, overrides: JointOverrides, lower: np.ndarray, upper: np.ndarray) -> None:
        self.out = out
        self.overrides = overrides
        self.lower, self.upper = lower, upper
        self._drawn_lines = 0

    def show(self, reading: np.ndarray, target: np.ndarray, sim: np.ndarray) -> None:
        """Print one table.

        Args:
            reading: (6,) the leader reading with the overrides applied (LeRobot's units: degrees or -100..100,
                gripper 0..100).
            target: (6,) the joint targets sent to the sim, dataset units (before the sim clamps them).
            sim: (6,) the sim's joint positions, dataset units.
        """
        sign, offset = self.overrides.sign, self.overrides.offset
        raw = sign * (reading - offset)  # what LeRobot read, before the overrides (sign is +-1)
        applied = np.clip(target, self.lower, self.upper)  # what the sim commands, in the table's units
        at_limit = np.isclose(applied, self.lower) | np.isclose(applied, self.upper)
        lines = [f"{'joint':<14}{'leader':>9}{'sign':>6}{'offset':>8}{'target':>9}{'sim':>10}"]
        for i, name in enumerate(JOINT_NAMES):
            mark = "*" if at_limit[i] else " "
            lines.append(
                f"{name:<14}{raw[i]:9.1f}{int(sign[i]):+6d}{offset[i]:8.1f}{applied[i]:9.1f}{mark}{sim[i]:9.1f}"
            )
        lines.append("leader: LeRobot's reading; target, sim: degrees, gripper 0..100; * clamped at a joint limit")
        if self._drawn_lines and self.out.isatty():
            self.out.write(f"\x1b[{self._drawn_lines}F")  # back to the first line of the previous table
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        self._drawn_lines = len(lines)


def _open_viewer(sim: So101Sim) -> Viewer | None:
    """A window on ``sim`` when a display is available; None (headless) otherwise."""
    from so101.sim.viewer import Viewer, has_display

    if not has_display():
        return None

    try:
        return Viewer(sim, title="so101 teleop", profile="fast")
    except DeviceError as error:
        print(f"so101 teleop: no window ({error}); running headless", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 teleop``; returns the exit status (2: bad options or an unusable device)."""
    return run_command("teleop", TeleopConfig, teleop, argv)
