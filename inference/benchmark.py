"""``so101 bench eval``: how fast checkpoints are evaluated on this machine.

Evaluates an untrained ACT of the default size (ResNet-18, 512-wide transformer) at 240x320 (slightly above the
default training resolution) on cameras rendered at the recorded 640x480, with ``n_action_steps=100``, in worker
processes, and prints episodes per minute and milliseconds per policy call against the target. An untrained policy
never succeeds, so every episode runs its full length: the worst case. Worker start-up and policy loading are
excluded (one warm-up episode per worker first).

``--backend ray`` measures the same episodes twice on this machine in one run, in the local pool and then on Ray
workers of ``--ray.address`` (``local``: a one-machine cluster), and prints the ratio: the cost of Ray itself.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from so101.policies.act import ActPolicyConfig
from so101.ray_cluster import RayOptions
from so101.sim.options import EPISODE_TIME_S, CameraOptions

if TYPE_CHECKING:
    from so101.inference.episode import RolloutSettings
    from so101.inference.evaluate import EvalPool
    from so101.inference.report import EvalSummary

TARGET_EPISODES_PER_MIN = 30.0
"""Evaluation throughput the workbench aims at with 2 workers on a CPU machine."""


@dataclass
class EvalBenchConfig:
    """Options of ``so101 bench eval``."""

    episodes: int = 30
    """Timed episodes (after one untimed warm-up episode per worker)."""
    workers: int = 2
    """Worker processes running episodes; 0 runs them in this process."""
    n_action_steps: int = 100
    """Actions of each chunk executed per policy call."""
    chunk_size: int = 100
    """Actions the untrained ACT predicts per call."""
    image_height: int = 240
    """Height (pixels) of the untrained ACT's image inputs."""
    image_width: int = 320
    """Width (pixels) of the untrained ACT's image inputs."""
    cameras: CameraOptions = field(default_factory=CameraOptions)
    """Cameras of the untrained ACT, rendered at this size and profile (a --checkpoint brings its own)."""
    episode_time_s: float = EPISODE_TIME_S
    """Sim seconds of each episode."""
    device: str = "cpu"
    """Device of the policy in the workers: cpu, cuda or mps."""
    checkpoint: Path | None = None
    """Benchmark this checkpoint instead of an untrained default-size ACT."""
    backend: Literal["local", "ray"] = "local"
    """``ray``: measure the local pool, then the same episodes on Ray workers, and print the ratio."""
    ray: RayOptions = field(default_factory=RayOptions)
    """The Ray cluster of --backend ray (``--ray.address``; ``local`` starts one on this machine)."""

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.workers < 0:
            raise ValueError(f"--episodes must be >= 1 and --workers >= 0, got {self.episodes} and {self.workers}")
        if self.backend == "ray" and self.workers < 1:
            raise ValueError("--backend ray needs --workers >= 1")
        if not 1 <= self.n_action_steps <= self.chunk_size:
            raise ValueError(f"--n_action_steps must be within 1..--chunk_size ({self.chunk_size})")


def write_untrained_checkpoint(
    directory: Path, options: ActPolicyConfig, camera_size: tuple[int, int], render_profile: str = "fast"
) -> Path:
    """A loadable checkpoint of an untrained ACT with unit normalisation stats, cameras recorded at ``camera_size``
    ((height, width) pixels) in ``render_profile``."""
    import torch
    from lerobot.policies.act.modeling_act import ACTPolicy

    from so101.policies.act import IMAGENET_STATS, act_config, make_processors
    from so101.policies.checkpoint import SimRequirements, write_sidecar

    cameras = options.cameras or ["overhead_cam", "wrist_cam"]
    config = act_config(options, 6, 6, cameras)
    policy = ACTPolicy(config)
    unit = {"mean": torch.zeros(6), "std": torch.ones(6)}
    stats = {"observation.state": dict(unit), "action": dict(unit)}
    for key in config.image_features:
        stats[key] = {name: torch.tensor(value) for name, value in IMAGENET_STATS.items()}
    preprocessor, postprocessor = make_processors(config, stats)
    directory = Path(directory)
    policy.save_pretrained(directory)
    preprocessor.save_pretrained(directory)
    postprocessor.save_pretrained(directory)
    requirements = SimRequirements(cameras=dict.fromkeys(cameras, camera_size), render_profile=render_profile)
    write_sidecar(directory, requirements)
    return directory


def bench_eval(cfg: EvalBenchConfig) -> int:
    """Run the benchmark and print its figures; returns 0 when it ran."""
    from so101.inference.episode import RolloutSettings
    from so101.inference.evaluate import EvalPool
    from so101.sim.machine import machine_line

    print(machine_line(), flush=True)
    settings = RolloutSettings(episode_time_s=cfg.episode_time_s, n_action_steps=cfg.n_action_steps, device=cfg.device)
    with tempfile.TemporaryDirectory() as tmp:
        if cfg.checkpoint is not None:
            checkpoint = cfg.checkpoint
            what = str(checkpoint)
        else:
            options = ActPolicyConfig(
                chunk_size=cfg.chunk_size, n_action_steps=cfg.n_action_steps, image_height=cfg.image_height,
                image_width=cfg.image_width, cameras=list(cfg.cameras.names), pretrained_backbone=False,
                device=cfg.device,
            )  # fmt: skip
            checkpoint = write_untrained_checkpoint(
                Path(tmp) / "act", options, (cfg.cameras.height, cfg.cameras.width), cfg.cameras.render_profile
            )
            what = (
                f"untrained default-size ACT at {cfg.image_height}x{cfg.image_width}, cameras "
                f"{'+'.join(cfg.cameras.names)} at {cfg.cameras.height}x{cfg.cameras.width} "
                f"({cfg.cameras.render_profile}), n_action_steps {cfg.n_action_steps}"
            )
        with EvalPool(cfg.workers) as pool:
            summary = _measure(pool, checkpoint, cfg, settings)
        if cfg.backend == "ray":
            from so101.inference.ray_eval import RayEvalPool

            options = cfg.ray
            if options.address == "local" and options.cpus_per_worker == 1:
                # The local pool's share of this machine's cores per worker, so that only Ray itself differs.
                options = replace(options, cpus_per_worker=max(1, (os.cpu_count() or 1) // cfg.workers))
            with RayEvalPool(cfg.workers, options) as pool:
                on_ray = _measure(pool, checkpoint, cfg, settings)
    print(f"so101 bench eval: {what}; {cfg.episodes} episodes, {cfg.workers} workers, device {cfg.device}")
    _print(summary, "local pool")
    if cfg.backend == "ray":
        _print(on_ray, f"Ray ({cfg.ray.address})")
        ratio = on_ray.episodes_per_min / summary.episodes_per_min
        print(f"  Ray / local pool        {ratio:8.2f}   (episodes per minute; Ray's overhead "
              f"{100.0 * (1.0 - ratio):+.1f}%, target at most 10%)")  # fmt: skip
    return 0


def _measure(pool: EvalPool, checkpoint: Path, cfg: EvalBenchConfig, settings: RolloutSettings) -> EvalSummary:
    """Timed episodes on ``pool``, after one untimed warm-up episode per worker (start-up and policy loading)."""
    from so101.inference.seeds import TEST_SEEDS, eval_seeds

    warm_up = eval_seeds(TEST_SEEDS.stop - max(cfg.workers, 1), max(cfg.workers, 1))
    pool.evaluate(checkpoint, warm_up, settings)
    summary, _ = pool.evaluate(checkpoint, eval_seeds(TEST_SEEDS.start, cfg.episodes), settings)
    return summary


def _print(summary: EvalSummary, backend: str) -> None:
    print(f"  {backend}:")
    print(f"  episodes per minute     {summary.episodes_per_min:8.1f}   "
          f"(target >= {TARGET_EPISODES_PER_MIN:.0f} with 2 workers)")  # fmt: skip
    print(f"  ms per policy call      {summary.ms_per_policy_call:8.1f}   "
          f"(slowest {summary.max_ms_per_policy_call:.1f})")  # fmt: skip
    print(f"  steps per episode       {summary.avg_steps:8.1f}   "
          f"({summary.avg_wall_s:.2f} s wall per episode per worker)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 bench eval``; returns the process exit status."""
    from so101.command import run_command

    return run_command("bench eval", EvalBenchConfig, bench_eval, argv)
