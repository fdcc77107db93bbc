"""``so101 bench expert``: success and phase rates of the scripted expert over random scenes (no rendering).

    so101 bench expert                                   # 200 scenes, seeds 0..199, no noise
    so101 bench expert --expert.noise.enabled true       # with the perturbations used for diverse demos

An episode runs under the recorder's rules (``so101.recording.episode_loop``): it ends 0.5 s after success or at the
time-out, so the figures are those of ``so101 record --teleop scripted``. The target: at least 98 % of the scenes
succeed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from so101.command import run_command
from so101.errors import ConfigError
from so101.teleop.scripted_expert import ExpertConfig

TARGET_SUCCESS = 0.98
"""The scripted expert should place the brick in at least this share of random scenes."""


@dataclass
class ExpertBenchConfig:
    """Options of ``so101 bench expert``."""

    episodes: int = 200
    """Random scenes to run the expert in."""
    seed: int = 0
    """Scenes use seeds seed .. seed + episodes - 1."""
    episode_time_s: float = 30.0
    """Time-out of an episode (s of sim time), as when recording."""
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    """The expert's geometry, pace and noise (``--expert.noise.enabled`` for diverse demonstrations)."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ConfigError("episodes", self.episodes, "must be at least 1")
        if self.episode_time_s <= 0:
            raise ConfigError("episode_time_s", self.episode_time_s, "must be positive")


@dataclass
class ExpertBenchResult:
    """Figures of one benchmark run."""

    episodes: int
    success_rate: float
    phase_rates: dict[str, float]
    """Fraction of episodes that reached each phase: grasped, lifted, released_over_bowl, success."""
    mean_length_s: float
    """Mean episode length (s of sim time), all episodes."""
    mean_success_length_s: float
    """Mean length of the successful episodes (s), what a recorded dataset's episodes last."""
    mean_attempts: float
    """Grasp attempts per episode (1 = no retry)."""
    failed_seeds: list[int]
    """Seeds of the scenes that did not succeed."""
    wall_s: float
    """Wall-clock time of the whole run (s)."""


def run(cfg: ExpertBenchConfig) -> ExpertBenchResult:
    """Run the expert in ``cfg.episodes`` scenes under the recorder's rules and gather the figures."""
    from so101.recording.episode_loop import EpisodeLoopConfig, Outcome, run_episode
    from so101.sim.simulator import So101Sim
    from so101.teleop.scripted_expert import ScriptedExpert

    sim = So101Sim()
    expert = ScriptedExpert(cfg.expert)
    loop = EpisodeLoopConfig(episode_time_s=cfg.episode_time_s)
    start = time.perf_counter()
    phases: dict[str, list[bool]] = {}
    lengths, success_lengths, attempts, failed = [], [], [], []
    for seed in range(cfg.seed, cfg.seed + cfg.episodes):
        result = run_episode(sim, expert, sim.sample_placement(seed), loop)
        for name, reached in result.phases.items():
            phases.setdefault(name, []).append(reached)
        seconds = result.frames / sim.fps
        lengths.append(seconds)
        attempts.append(expert.attempts)
        if result.outcome is Outcome.SUCCESS:
            success_lengths.append(seconds)
        else:
            failed.append(seed)
    return ExpertBenchResult(
        episodes=cfg.episodes,
        success_rate=len(success_lengths) / cfg.episodes,
        phase_rates={name: float(np.mean(values)) for name, values in phases.items()},
        mean_length_s=float(np.mean(lengths)),
        mean_success_length_s=float(np.mean(success_lengths)) if success_lengths else float("nan"),
        mean_attempts=float(np.mean(attempts)),
        failed_seeds=failed,
        wall_s=time.perf_counter() - start,
    )


def bench(cfg: ExpertBenchConfig) -> int:
    """Run, print the figures, the target and the machine; 0 when it ran, whatever the figures."""
    from so101.sim.machine import machine_line

    result = run(cfg)
    noise = "with noise" if cfg.expert.noise.enabled else "no noise"
    print(f"scripted expert, {result.episodes} scenes (seeds {cfg.seed}..{cfg.seed + cfg.episodes - 1}), {noise}")
    verdict = "meets" if result.success_rate >= TARGET_SUCCESS else "below"
    target = f"target >= {100 * TARGET_SUCCESS:.0f} %: {verdict}"
    print(f"  success rate        {100 * result.success_rate:6.1f} %   {target}")
    for name, rate in result.phase_rates.items():
        print(f"  {name:<19} {100 * rate:6.1f} %")
    print(
        f"  mean length         {result.mean_length_s:6.2f} s  ({result.mean_success_length_s:.2f} s when successful)"
    )
    print(f"  grasp attempts      {result.mean_attempts:6.2f} per episode")
    if result.failed_seeds:
        print(f"  failed seeds        {result.failed_seeds}")
    print(f"  wall time           {result.wall_s:6.1f} s")
    print(f"  {machine_line(gl=False)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 bench expert``."""
    return run_command("bench expert", ExpertBenchConfig, bench, argv)
