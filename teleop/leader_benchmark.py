"""``so101 bench leader``: latency from a leader servo's move to the sim target, and the loop rate achieved.

The Feetech bus emulator runs in a separate process, as a real arm is on the other side of a serial line: the
workbench process reads it through a pseudo-terminal with LeRobot's ``so101_leader``, exactly as it reads
``/dev/ttyACM0``. Each control step:

1. the emulator process moves all six servos to the next pose of the ``wave`` motion and notes the time;
2. the teleoperation loop reads the arm (``LeaderSource.next_action``: LeRobot's sync read, calibration,
   overrides, the watch on the joint limits) and has the sim target;
3. the sim steps (one control step of physics), and the loop waits for the next tick of its ``ControlClock``.

Reported: the time from 1 to 2 (the servo change to the sim target) and, within it, the read itself; the
physics step; and the loop rate against the wall clock. Both processes time with ``time.monotonic``, one clock
for the whole machine. The emulator does not model the serial line's baud rate: a real 1 Mbit/s bus adds about
0.5 ms per sync read of six servos (12 reply packets of 8 bytes plus the request, 10 bits per byte).
A change that falls between two ticks waits for the next one as well: on average half a period (17 ms at 30 Hz).
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from so101.command import run_command
from so101.errors import ConfigError
from so101.sim.options import SceneOptions

GOAL_MEDIAN_MS = 5.0
"""Target: median time from a servo's move to the sim target (ms)."""


@dataclass
class LeaderBenchConfig:
    """Options of ``so101 bench leader``."""

    duration_s: float = 10.0
    """How long the loop runs (s)."""
    scene: SceneOptions = field(default_factory=SceneOptions)
    """The scene; ``--scene.fps`` is the control rate (Hz) the loop should sustain."""
    seed: int = 0
    """Scene seed."""

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ConfigError("duration_s", self.duration_s, "must be positive")


@dataclass(frozen=True)
class LeaderBenchResult:
    """Figures of one run; times in ms."""

    steps: int
    change_to_target_ms: np.ndarray
    """(steps,) from the servos' move (in the emulator process) to the sim target."""
    read_ms: np.ndarray
    """(steps,) the read and mapping alone (``LeaderSource.next_action``)."""
    step_ms: np.ndarray
    """(steps,) one sim control step."""
    rate_hz: float
    """Steps per second of wall time, from the first step's start to the last one's."""
    slowest_second_steps: int | None
    """The fewest steps started within any one second of the run (None for runs shorter than 2 s)."""
    clock_summary: str
    """The control clock's account of late and skipped ticks."""
    matching: int
    """Steps whose target equals the pose the servos were moved to (within one tick, 0.09 deg)."""
    bus_report: str


def serve_emulator(conn: Connection) -> None:
    """Body of the emulator process: send the port's path, then move the servos to each pose received and
    answer with the time of the move (``time.monotonic``); ``None`` ends it."""
    from so101.teleop.feetech.emulated_arm import store_calibration
    from so101.teleop.feetech.emulator import FeetechBusEmulator

    with FeetechBusEmulator() as emulator:
        store_calibration(emulator)
        conn.send(emulator.port)
        while (pose := conn.recv()) is not None:
            emulator.play(lambda _t, pose=pose: pose)
            conn.send(time.monotonic())


def run(cfg: LeaderBenchConfig) -> LeaderBenchResult:
    """Run the emulator process and the teleoperation loop for ``cfg.duration_s``."""
    from so101.sim.control_loop import ControlClock
    from so101.sim.simulator import So101Sim
    from so101.teleop.feetech.emulated_arm import write_calibration_file
    from so101.teleop.feetech.trajectories import wave
    from so101.teleop.leader import LeaderConfig
    from so101.teleop.leader_source import LeaderSource

    fps = cfg.scene.fps
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold GL contexts and threads
    conn, child_conn = context.Pipe()
    emulator = context.Process(target=serve_emulator, args=(child_conn,), name="so101-bench-emulator", daemon=True)
    emulator.start()
    try:
        port = conn.recv()
        with tempfile.TemporaryDirectory() as calibration_dir:
            write_calibration_file(Path(calibration_dir), "bench")
            source = LeaderSource(LeaderConfig(port=port, id="bench", calibration_dir=Path(calibration_dir)))
        sim = So101Sim(cfg.scene.scene_config())
        sim.reset(cfg.seed)
        steps = max(1, round(cfg.duration_s * fps))
        change_to_target, read, step, starts = (np.empty(steps) for _ in range(4))
        matching = 0
        clock = ControlClock(fps)
        try:
            for k in range(steps):
                starts[k] = time.monotonic()
                pose = wave(k / fps)
                conn.send(pose)
                changed = conn.recv()
                before_read = time.monotonic()
                target = source.next_action(sim)
                at_target = time.monotonic()
                sim.step(target)
                change_to_target[k] = at_target - changed
                read[k] = at_target - before_read
                step[k] = time.monotonic() - at_target
                matching += bool(np.allclose(target, pose, atol=0.1))
                clock.wait()
        finally:
            source.close()
        return LeaderBenchResult(
            steps=steps,
            change_to_target_ms=change_to_target * 1e3,
            read_ms=read * 1e3,
            step_ms=step * 1e3,
            rate_hz=(steps - 1) / (starts[-1] - starts[0]) if steps > 1 else float("nan"),
            slowest_second_steps=_slowest_second(starts),
            clock_summary=clock.summary(),
            matching=matching,
            bus_report=source.report(),
        )
    finally:
        conn.send(None)
        emulator.join(timeout=5.0)


def _slowest_second(starts: np.ndarray) -> int | None:
    """The fewest step starts within a one-second window beginning at any step's start."""
    windows = starts[starts <= starts[-1] - 1.0]
    if len(windows) == 0:
        return None
    return int(np.min(np.searchsorted(starts, windows + 1.0) - np.arange(len(windows))))


def bench_leader(cfg: LeaderBenchConfig) -> int:
    """Body of ``so101 bench leader``: run, then print the machine, the figures and the targets."""
    from so101.sim.machine import machine_line

    fps = cfg.scene.fps
    result = run(cfg)
    print(machine_line(gl=False))
    print(
        f"so101 bench leader   emulator in a separate process, {fps} Hz for {cfg.duration_s:g} s "
        f"({result.steps} steps)"
    )
    print(f"{'':<34}{'median':>9}{'p99':>9}{'max':>9}  (ms)")
    for label, times in (
        ("servo change -> sim target", result.change_to_target_ms),
        ("  of which the leader read", result.read_ms),
        ("sim control step (physics)", result.step_ms),
    ):
        print(f"{label:<34}{np.median(times):9.3f}{np.percentile(times, 99):9.3f}{times.max():9.3f}")
    slowest = "" if result.slowest_second_steps is None else f", slowest second {result.slowest_second_steps} steps"
    print(f"loop rate {result.rate_hz:.2f} Hz (target {fps} Hz){slowest}; control clock: {result.clock_summary}")
    print(f"targets equal to the servo poses: {result.matching}/{result.steps}; {result.bus_report}")
    # 0.1 % slack: sleeping overshoots by tens of microseconds, which the schedule absorbs only on average.
    met = result.rate_hz >= fps * 0.999 and np.median(result.change_to_target_ms) < GOAL_MEDIAN_MS
    goal = f">= {fps} Hz sustained, median change -> target < {GOAL_MEDIAN_MS:g} ms"
    print(f"target ({goal}): {'met' if met else 'NOT met'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 bench leader``; returns the exit status (0 when it ran, even below target)."""
    return run_command("bench leader", LeaderBenchConfig, bench_leader, argv)
