"""``so101 bench expert``: success and phase rates of the scripted expert over random scenes (no rendering).

    so101 bench expert                                   # 200 scenes, seeds 0..199, no noise
    so101 bench expert --expert.noise.enabled true       # with the perturbations used for diverse demos

An episode runs under the recorder's rules (``recording.episode_loop``): it ends 0.5 s after success or at the
time-out, so the figures are those of ``so101 record --teleop scripted``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from teleop.scripted_expert import ExpertConfig


@dataclass
class ExpertBenchConfig:
    episodes: int = 200
    seed: int = 0
    """Scenes use seeds seed .. seed + episodes - 1."""
    episode_time_s: float = 30.0
    expert: ExpertConfig = field(default_factory=ExpertConfig)

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"--episodes must be at least 1, got {self.episodes}")


@dataclass
class ExpertBenchResult:
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
    wall_s: float


def run(cfg: ExpertBenchConfig) -> ExpertBenchResult:
    from recording.episode_loop import EpisodeLoopConfig, Outcome, run_episode
    from sim.simulator import So101Sim
    from teleop.scripted_expert import ScriptedExpert

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


def main(argv: list[str]) -> int:
    """Entry point of ``so101 bench expert``; returns 1 when the success rate is below 98 %."""
    import draccus

    cfg = draccus.parse(config_class=ExpertBenchConfig, args=argv)
    result = run(cfg)
    noise = "with noise" if cfg.expert.noise.enabled else "no noise"
    print(f"scripted expert, {result.episodes} scenes (seeds {cfg.seed}..{cfg.seed + cfg.episodes - 1}), {noise}")
    print(f"  success rate        {100 * result.success_rate:6.1f} %")
    for name, rate in result.phase_rates.items():
        print(f"  {name:<19} {100 * rate:6.1f} %")
    print(
        f"  mean length         {result.mean_length_s:6.2f} s  ({result.mean_success_length_s:.2f} s when successful)"
    )
    print(f"  grasp attempts      {result.mean_attempts:6.2f} per episode")
    if result.failed_seeds:
        print(f"  failed seeds        {result.failed_seeds}")
    print(f"  wall time           {result.wall_s:6.1f} s")
    return 0 if result.success_rate >= 0.98 else 1
