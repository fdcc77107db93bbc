"""``so101 bench vr``: stereo frame cost and rate, controller-to-target latency, and joint jumps of the clutch.

Three measurements:

1. A VR teleoperation session as ``so101 record --teleop vr`` runs it, without writing a dataset: the control loop
   (``ControlClock`` at ``--scene.fps``) steps the physics from the VR source and draws the headset between ticks.
   The controlling hand sweeps (a figure-of-eight of 10 cm, through ``Headset.input_filter`` since a simulated
   controller stands still) with the clutch engaged and released in turn. Reported: the CPU time per stereo frame
   at the runtime's recommended resolution (scene update, both eyes, blits, ``xrEndFrame``), the frames rendered
   per second against the display's rate, and the control loop's late ticks.
2. Within it, the latency from a controller sample (the action states and the hand's pose read from the runtime)
   to the joint targets (clutch, end-effector controller, IK): median and 99th percentile; target median < 5 ms.
3. Without the runtime, many random clutch sequences (hand jumps while released, engaging far away, fast motion
   while engaged): the largest change of any body joint target in one control step, against the controller's
   per-step bound (``--vr.max_joint_step_deg``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from so101.command import run_command
from so101.errors import ConfigError
from so101.kinematics.pose import Pose, quat_from_rotvec, quat_multiply
from so101.sim.machine import machine_line
from so101.sim.options import SceneOptions
from so101.teleop.vr.actions import ControllerSample
from so101.teleop.vr.headset import VRConfig

GOAL_LATENCY_MS = 5.0
"""Target: median time from a controller sample to the joint targets (ms)."""


@dataclass
class VRBenchConfig:
    """Options of ``so101 bench vr``."""

    duration_s: float = 5.0
    """How long the VR session runs (s)."""
    sequences: int = 200
    """Random clutch sequences for the joint-jump measurement."""
    steps_per_sequence: int = 120
    """Control steps per random clutch sequence."""
    vr: VRConfig = field(default_factory=VRConfig)
    """The headset (``--vr.graphics``, ``--vr.render_profile``, ``--vr.max_joint_step_deg``...)."""
    scene: SceneOptions = field(default_factory=SceneOptions)
    seed: int = 0
    """Scene and random-sequence seed."""

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ConfigError("duration_s", self.duration_s, "must be positive")
        if self.sequences < 1 or self.steps_per_sequence < 2:
            raise ValueError("--sequences must be at least 1 and --steps_per_sequence at least 2")


class SweepingHand:
    """Input filter: the hand traces a figure-of-eight (reference space), the clutch held 2 s, released 1 s."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, sample: ControllerSample) -> ControllerSample:
        t = sample.time_s - self.start
        offset = 0.1 * np.array([math.sin(1.3 * t), 0.5 * math.sin(2.6 * t), -0.5 * (1 - math.cos(1.3 * t))])
        hand = None if sample.hand is None else Pose(sample.hand.position + offset, sample.hand.quat)
        return replace(sample, hand=hand, clutch=float(t % 3.0 < 2.0), trigger=0.5 + 0.5 * math.sin(t))


def session_figures(cfg: VRBenchConfig) -> dict[str, object]:
    """Measurements 1 and 2: a paced VR session; returns the figures."""
    from so101.sim.control_loop import ControlClock
    from so101.sim.simulator import So101Sim
    from so101.teleop.vr.runtime_info import runtime_info
    from so101.teleop.vr.source import VRTeleop

    sim = So101Sim(cfg.scene.scene_config())
    sim.reset(cfg.seed)
    source = VRTeleop(cfg.vr, terminal=False)  # measuring: no status line, no keys
    source.input_filter = SweepingHand()
    try:
        headset = source.open(sim)
        source.start_episode(sim)
        info = runtime_info(headset.session)
        clock = ControlClock(sim.fps, view=headset.view)
        frames0, start = headset.view.rendered, time.perf_counter()
        render_from = len(headset.view.render_ms)
        while time.perf_counter() - start < cfg.duration_s and not headset.session.ended:
            sim.step(source.next_action(sim))
            clock.wait()
        wall = time.perf_counter() - start
        display_hz = info.refresh_rate_hz or 1.0 / headset.session.display_period_s
        return {
            "info": info,
            "render_ms": np.array(headset.view.render_ms[render_from:]),
            "frame_rate": (headset.view.rendered - frames0) / wall,
            "display_hz": display_hz,
            "latency_ms": 1000.0 * np.array(source.latencies_s),
            "clock": clock.summary(),
        }
    finally:
        source.close()


def largest_jump(cfg: VRBenchConfig) -> float:
    """Measurement 3: the largest body-joint target change in one step over random clutch sequences (deg)."""
    from so101.kinematics.ee_controller import EEControllerConfig, EndEffectorController
    from so101.sim.simulator import START_POSE, So101Sim
    from so101.teleop.vr.clutch import Clutch

    sim = So101Sim(cfg.scene.scene_config())
    rng = np.random.default_rng(cfg.seed)
    worst = 0.0
    for _ in range(cfg.sequences):
        controller = EndEffectorController(sim.model, EEControllerConfig(cfg.vr.max_joint_step_deg))
        clutch = Clutch(controller, cfg.vr.clutch(), control_dt=sim.control_dt)
        targets = START_POSE.copy()
        hand = Pose(rng.uniform(-1.0, 1.0, 3), quat_from_rotvec(rng.normal(0.0, 1.0, 3)))
        held = bool(rng.random() < 0.5)  # engaged or not at the first frame
        for _ in range(cfg.steps_per_sequence):
            if rng.random() < 0.1:
                held = not held
            if not held and rng.random() < 0.3:  # the released hand goes anywhere
                hand = Pose(rng.uniform(-1.0, 1.0, 3), quat_from_rotvec(rng.normal(0.0, 1.0, 3)))
            else:  # fast motion: up to 10 cm and 0.3 rad per step (3 m/s)
                turn = quat_from_rotvec(rng.normal(0.0, 0.15, 3))
                hand = Pose(hand.position + rng.normal(0.0, 0.05, 3), quat_multiply(turn, hand.quat))
            step = clutch.step(targets, hand, held, float(rng.random()))
            worst = max(worst, float(np.abs(step.targets[:5] - targets[:5]).max()))
            targets = step.targets
    return worst


def bench(cfg: VRBenchConfig) -> int:
    """Body of ``so101 bench vr``: print the figures and the machine line."""
    figures = session_figures(cfg)
    info = figures["info"]
    width, height = info.views[0].recommended  # type: ignore[attr-defined]
    print(
        f"bench vr: {info.runtime} {info.version}, {info.system}, graphics {info.graphics}, "  # type: ignore[attr-defined]
        f"{width}x{height} per eye, {cfg.vr.render_profile} profile"
    )
    render_ms = figures["render_ms"]
    assert isinstance(render_ms, np.ndarray)
    if render_ms.size:
        print(f"stereo frame: {np.median(render_ms):.1f} ms CPU median (p90 {np.percentile(render_ms, 90):.1f} ms)")
    rate, display = float(figures["frame_rate"]), float(figures["display_hz"])  # type: ignore[arg-type]
    print(f"frame rate: {rate:.1f} frames/s rendered of {display:.1f} Hz display ({100 * rate / display:.0f}%)")
    print(f"control loop at {cfg.scene.fps} Hz: {figures['clock']}")
    latency = figures["latency_ms"]
    assert isinstance(latency, np.ndarray)
    if latency.size:
        median = float(np.median(latency))
        verdict = "OK" if median < GOAL_LATENCY_MS else "SLOW"
        print(
            f"controller sample -> joint targets: median {median:.2f} ms, p99 {np.percentile(latency, 99):.2f} ms "
            f"over {latency.size} steps (target median < {GOAL_LATENCY_MS:.0f} ms) {verdict}"
        )
    jump, bound = largest_jump(cfg), cfg.vr.max_joint_step_deg
    print(
        f"largest joint jump over {cfg.sequences} random clutch sequences ({cfg.sequences * cfg.steps_per_sequence} "
        f"steps): {jump:.2f} deg (bound {bound:.1f} deg) {'OK' if jump <= bound + 1e-9 else 'OVER'}"
    )
    print(machine_line())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 bench vr``; returns the exit status."""
    return run_command("bench vr", VRBenchConfig, bench, argv)
