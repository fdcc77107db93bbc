"""``so101 bench deploy``: observation-to-command latency of the deployment loop, and whether it holds its rate.

The follower rig runs in its own process (``so101 emulate follower``, as a real arm is on the other side of a
serial line); this process reads it with LeRobot's ``SO101Follower`` and two simulated cameras at 640x480, runs an
untrained ACT of the default size (ResNet-18, 512-wide transformer, 228x304 inputs) through the ``PolicyRunner``
with chunked execution, passes each action through the ``SafetyLayer`` and sends it, on a ``ControlClock`` at
30 Hz. Latency per step: from the start of the observation read (joints and cameras, lost bus replies retried as in
``so101 deploy``) to the command written to the bus. Reported: median and p99 over all steps, over the steps that
call the policy and over the others, late and skipped ticks, the loop rate; then the safety layer alone (median and
p99 per action).
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from so101.command import run_command
from so101.errors import ConfigError

RATE_HZ = 30
SAFETY_TARGET_US = 500.0
"""The safety layer's median per action should stay well under a millisecond."""


@dataclass
class DeployBenchConfig:
    """Options of ``so101 bench deploy``."""

    duration_s: float = 20.0
    """How long the loop runs (s)."""
    n_action_steps: int = 100
    """Actions of each chunk executed per policy call (ACT's default chunk is 100)."""
    camera_width: int = 640
    """Width (pixels) of the two simulated cameras."""
    camera_height: int = 480
    """Height (pixels) of the two simulated cameras."""
    device: str = "cpu"
    """Device of the policy: cpu, cuda or mps."""
    safety_actions: int = 5000
    """Actions timed through the safety layer alone."""

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ConfigError("duration_s", self.duration_s, "must be positive")
        if not 1 <= self.n_action_steps <= 100:
            raise ConfigError("n_action_steps", self.n_action_steps, "must be within 1..100 (the chunk size)")
        if self.safety_actions < 10:
            raise ConfigError("safety_actions", self.safety_actions, "must be at least 10")


def start_rig(directory: Path, width: int, height: int) -> tuple[subprocess.Popen[str], list[str]]:
    """``so101 emulate follower`` in its own process; returns it and the ``so101 deploy`` words it suggests."""
    process = subprocess.Popen(
        [sys.executable, "-m", "so101", "emulate", "follower", "--calibration_dir", str(directory),
         "--pose_feed", str(directory / "pose"), "--camera_width", str(width), "--camera_height", str(height)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"so101 emulate follower ended: {process.communicate()[1].strip()}")
        if line.startswith("try:"):
            return process, shlex.split(line[len("try:") :])


def percentiles(values_s: list[float]) -> str:
    if not values_s:
        return "none"
    ms = 1000 * np.asarray(values_s)
    return f"median {np.median(ms):6.1f} ms, p99 {np.percentile(ms, 99):6.1f} ms ({len(ms)})"


def bench_safety(actions: int) -> list[float]:
    """Seconds per ``SafetyLayer.filter`` on a smooth random walk of targets (FK included)."""
    from so101.inference.deploy_safety import SafetyLayer
    from so101.sim.simulator import START_POSE

    layer = SafetyLayer()
    layer.start(START_POSE)
    walk = START_POSE + np.cumsum(np.random.default_rng(0).normal(0.0, 0.5, (actions, 6)), axis=0) * [1, 1, 1, 1, 1, 0]
    durations = []
    for action in walk:
        start = time.perf_counter()
        layer.filter(action)
        durations.append(time.perf_counter() - start)
    return durations


def bench_deploy(cfg: DeployBenchConfig) -> int:
    """Run the benchmark and print its figures; returns 0 when it ran."""
    from so101.command import parse
    from so101.inference.benchmark import write_untrained_checkpoint
    from so101.inference.deploy import DeployConfig
    from so101.inference.deploy_robot import connect_follower, joint_action, joint_state, release
    from so101.inference.deploy_safety import SafetyLayer, Watchdog
    from so101.inference.policy_runner import PolicyRunner
    from so101.policies.act import ActPolicyConfig
    from so101.sim.control_loop import ControlClock
    from so101.sim.machine import machine_line

    print(machine_line(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        size = (cfg.camera_height, cfg.camera_width)
        options = ActPolicyConfig(n_action_steps=cfg.n_action_steps, pretrained_backbone=False, device=cfg.device,
                                  cameras=["overhead_cam", "wrist_cam"])  # fmt: skip
        checkpoint = write_untrained_checkpoint(Path(tmp) / "act", options, size)
        runner = PolicyRunner.from_checkpoint(checkpoint, cfg.device)
        rig, words = start_rig(Path(tmp), cfg.camera_width, cfg.camera_height)
        robot = None
        try:
            words[words.index("CKPT")] = str(checkpoint)
            robot = connect_follower(parse(DeployConfig, words[2:], "deploy").robot)
            safety = SafetyLayer()
            watchdog = Watchdog(1.0)  # as in so101 deploy: lost bus replies are retried
            state = joint_state(watchdog.read(robot.get_observation))
            safety.start(state)
            runner.reset()
            clock = ControlClock(RATE_HZ)
            all_steps: list[float] = []
            call_steps: list[float] = []
            other_steps: list[float] = []
            start = time.perf_counter()
            while time.perf_counter() - start < cfg.duration_s:
                taken = time.perf_counter()
                observation = watchdog.read(robot.get_observation)
                calls = runner.needs_images
                action = runner.act(joint_state(observation), {n: observation[n] for n in runner.cameras})
                robot.send_action(joint_action(safety.filter(action).target))
                latency = time.perf_counter() - taken
                all_steps.append(latency)
                (call_steps if calls else other_steps).append(latency)
                clock.wait()
            elapsed = time.perf_counter() - start
        finally:
            if robot is not None:
                release(robot)
            rig.send_signal(signal.SIGINT)
            rig.communicate(timeout=20)
    safety_s = bench_safety(cfg.safety_actions)
    rate = len(all_steps) / elapsed
    print(f"so101 bench deploy: untrained default-size ACT (228x304 inputs), 2 simulated cameras at "
          f"{cfg.camera_height}x{cfg.camera_width}, n_action_steps {cfg.n_action_steps}, device {cfg.device}, "
          f"{RATE_HZ} Hz for {cfg.duration_s:g} s")  # fmt: skip
    print(f"  observation -> command, every step     {percentiles(all_steps)}")
    print(f"  observation -> command, policy calls   {percentiles(call_steps)}")
    print(f"  observation -> command, other steps    {percentiles(other_steps)}")
    holds = clock.late_ticks <= len(call_steps) and rate >= 0.98 * RATE_HZ
    print(f"  bus reads retried after a lost reply   {watchdog.retries}")
    print(f"  loop rate {rate:5.2f} Hz (target {RATE_HZ}); {clock.summary()}: "
          f"{'holds' if holds else 'does not hold'} {RATE_HZ} Hz")  # fmt: skip
    median_us = 1e6 * float(np.median(safety_s))
    mark = "" if median_us <= SAFETY_TARGET_US else "   below target"
    print(f"  safety layer alone                     median {median_us:6.1f} us, p99 "
          f"{1e6 * float(np.percentile(safety_s, 99)):6.1f} us per action ({len(safety_s)}; target <= "
          f"{SAFETY_TARGET_US:.0f} us){mark}")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 bench deploy``; returns the exit status."""
    return run_command("bench deploy", DeployBenchConfig, bench_deploy, argv)
