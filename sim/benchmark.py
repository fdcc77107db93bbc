"""``so101 bench sim``: physics steps/s and environment steps/s at the control rate, for both render profiles.

An environment step is one control step (1/fps s of sim time, several physics steps) plus rendering every
camera. Figures are medians over repeated timed blocks, so a busy moment on the machine does not skew them.

Targets: physics alone at least ``PHYSICS_TARGET`` x real time, so that rendering, not physics, bounds a step; an
environment step with two cameras at least ``ENV_TARGET`` x real time, so that teleoperated recording keeps up with
the person (a CPU renders the quality profile below it: record with ``fast`` there).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from so101.command import run_command
from so101.sim.options import SceneOptions
from so101.sim.rendering import RENDER_PROFILES

PHYSICS_TARGET = 10.0
"""Physics alone (no rendering): at least this many times real time."""
ENV_TARGET = 1.0
"""An environment step with two cameras: at least real time."""


@dataclass
class SimBenchConfig:
    """Options of ``so101 bench sim``."""

    steps: int = 150
    """Environment steps per timed block."""
    repeats: int = 5
    """Timed blocks per configuration; the median block is reported."""
    sizes: list[str] = field(default_factory=lambda: ["224x224", "640x480"])
    """Camera image sizes (WxH); each configuration renders overhead_cam and wrist_cam at that size."""
    profiles: list[str] = field(default_factory=lambda: list(RENDER_PROFILES))
    """Render profiles to measure: ``fast``, ``quality``."""
    scene: SceneOptions = field(default_factory=SceneOptions)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.repeats < 1:
            raise ValueError(f"--steps and --repeats must be at least 1, got {self.steps} and {self.repeats}")
        self.image_sizes()
        unknown = [profile for profile in self.profiles if profile not in RENDER_PROFILES]
        if unknown or not self.profiles:
            raise ValueError(f"--profiles lists some of {', '.join(RENDER_PROFILES)}, got {self.profiles}")

    def image_sizes(self) -> list[tuple[int, int]]:
        """``sizes`` as (width, height) pixels."""
        sizes = []
        for size in self.sizes:
            width, x, height = size.lower().partition("x")
            if not (x and width.isdigit() and height.isdigit() and min(int(width), int(height)) >= 16):
                raise ValueError(f"--sizes lists image sizes WxH of at least 16x16 pixels, e.g. 224x224, got {size!r}")
            sizes.append((int(width), int(height)))
        if not sizes:
            raise ValueError("--sizes lists at least one image size WxH, e.g. [224x224]")
        return sizes


def _median_rate(run_block: Callable[[], None], steps: int, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_block()
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)


def _moving_actions(start: np.ndarray, steps: int) -> np.ndarray:
    # A slow sweep of every joint, so the physics has contacts and motion to compute, like a real episode.
    phase = np.linspace(0.0, 2.0 * np.pi, steps)[:, None]
    amplitude = np.array([25.0, 15.0, 15.0, 20.0, 45.0, 30.0])
    actions = start + amplitude * np.sin(phase)
    actions[:, 5] = np.clip(actions[:, 5], 0.0, 100.0)
    return actions


def _verdict(times_real_time: float, target: float) -> str:
    return f">= {target:g}x: {'met' if times_real_time >= target else 'BELOW'}"


def bench(cfg: SimBenchConfig) -> int:
    """Measure and print the figures; 0 when it ran, whether or not the targets were met."""
    from so101.sim.env import So101PickPlaceEnv
    from so101.sim.machine import machine_line
    from so101.sim.scene import CameraConfig
    from so101.sim.simulator import So101Sim

    print(machine_line())
    fps = cfg.scene.fps
    print(f"so101 bench sim: overhead_cam + wrist_cam, median of {cfg.repeats} blocks of {cfg.steps} steps at "
          f"{fps} fps, the arm sweeping its joints")  # fmt: skip
    sim = So101Sim(cfg.scene.scene_config())
    actions = _moving_actions(sim.reset(0), cfg.steps)

    def physics_block() -> None:
        sim.reset(0)
        for action in actions:
            sim.step(action)

    control_rate = _median_rate(physics_block, cfg.steps, cfg.repeats)
    substeps = sim.scene.n_substeps
    print(f"physics only: {control_rate:,.0f} control steps/s ({control_rate * substeps:,.0f} physics steps/s, "
          f"{substeps} per control step) = {control_rate / fps:,.1f}x real time   "
          f"target {_verdict(control_rate / fps, PHYSICS_TARGET)}")  # fmt: skip
    print(f"{'profile':<9} {'cameras':<16} {'env steps/s':>12} {'x real time':>12}   target")
    for profile in cfg.profiles:
        for width, height in cfg.image_sizes():
            cameras = [CameraConfig("overhead_cam", width, height), CameraConfig("wrist_cam", width, height)]
            env = So101PickPlaceEnv(
                cameras=cameras, render_profile=profile, fps=fps, brick=cfg.scene.brick, robot_xml=cfg.scene.robot_xml
            )  # type: ignore[arg-type]

            def env_block(env: So101PickPlaceEnv = env) -> None:
                env.reset(seed=0)
                for action in actions:
                    env.step(action)

            try:
                rate = _median_rate(env_block, cfg.steps, cfg.repeats)
            finally:
                env.close()
            size = f"2 x {width}x{height}"
            print(f"{profile:<9} {size:<16} {rate:>12,.0f} {rate / fps:>12.1f}   {_verdict(rate / fps, ENV_TARGET)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command("bench sim", SimBenchConfig, bench, argv)
