"""``so101 bench sim``: physics steps/s and environment steps/s at the control rate, for both render profiles.

An environment step is one control step (1/fps s of sim time, several physics steps) plus rendering every
camera. Figures are medians over repeated timed blocks, so a busy moment on the machine does not skew them.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class SimBenchConfig:
    steps: int = 150
    """Environment steps per timed block."""
    repeats: int = 5
    """Timed blocks per configuration; the median block is reported."""
    sizes: list[str] = field(default_factory=lambda: ["224x224", "640x480"])
    """Camera image sizes (WxH); each configuration renders overhead_cam and wrist_cam at that size."""
    profiles: list[str] = field(default_factory=lambda: ["fast", "quality"])
    fps: int = 30


def _median_rate(run_block, steps: int, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_block()
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)


def _moving_actions(sim, steps: int) -> np.ndarray:
    # A slow sweep of every joint, so the physics has contacts and motion to compute, like a real episode.
    rest = sim.commanded_targets()
    phase = np.linspace(0.0, 2.0 * np.pi, steps)[:, None]
    amplitude = np.array([25.0, 15.0, 15.0, 20.0, 45.0, 30.0])
    actions = rest + amplitude * np.sin(phase)
    actions[:, 5] = np.clip(actions[:, 5], 0.0, 100.0)
    return actions


def main(argv: list[str]) -> int:
    import draccus

    from sim.env import So101PickPlaceEnv
    from sim.scene import CameraConfig, SceneConfig
    from sim.simulator import So101Sim

    cfg = draccus.parse(config_class=SimBenchConfig, args=argv)
    sim = So101Sim(SceneConfig(fps=cfg.fps))
    sim.reset(0)
    actions = _moving_actions(sim, cfg.steps)

    def physics_block() -> None:
        sim.reset(0)
        for action in actions:
            sim.step(action)

    control_rate = _median_rate(physics_block, cfg.steps, cfg.repeats)
    substeps = sim.scene.n_substeps
    print(f"physics: {control_rate * substeps:,.0f} physics steps/s "
          f"({substeps} per control step at {cfg.fps} fps: {control_rate:,.0f} control steps/s without rendering, "
          f"{control_rate / cfg.fps:,.1f}x real time)")
    print(f"{'profile':<9} {'cameras':<16} {'env steps/s':>12} {'x real time':>12}")
    for profile in cfg.profiles:
        for size in cfg.sizes:
            width, height = (int(v) for v in size.lower().split("x"))
            cameras = [CameraConfig("overhead_cam", width, height), CameraConfig("wrist_cam", width, height)]
            env = So101PickPlaceEnv(cameras=cameras, render_profile=profile, fps=cfg.fps)  # type: ignore[arg-type]

            def env_block(env=env) -> None:
                env.reset(seed=0)
                for action in actions:
                    env.step(action)

            rate = _median_rate(env_block, cfg.steps, cfg.repeats)
            env.close()
            print(f"{profile:<9} {'2 x ' + size:<16} {rate:>12,.0f} {rate / cfg.fps:>12.1f}")
    return 0
