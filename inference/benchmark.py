"""``so101 bench eval``: how fast checkpoints are evaluated on this machine.

Evaluates an untrained ACT of the default size (ResNet-18, 512-wide transformer) at 240x320 (slightly above the
default training resolution) on cameras rendered at the recorded 640x480, with ``n_action_steps=100``, in worker
processes, and prints episodes per minute and milliseconds per policy call. An untrained policy never succeeds,
so every episode runs its full length: the worst case. Worker start-up and policy loading are excluded (one
warm-up episode per worker first).
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from policies.act import ActPolicyConfig


@dataclass
class EvalBenchConfig:
    episodes: int = 30
    workers: int = 2
    n_action_steps: int = 100
    chunk_size: int = 100
    image_height: int = 240
    image_width: int = 320
    camera_height: int = 480
    camera_width: int = 640
    episode_length: int = 450
    device: str = "cpu"
    checkpoint: str | None = None
    """Benchmark this checkpoint instead of an untrained default-size ACT."""


def write_untrained_checkpoint(directory: Path, options: ActPolicyConfig, camera_size: tuple[int, int]) -> Path:
    """A loadable checkpoint of an untrained ACT with unit normalisation stats, cameras recorded at ``camera_size``."""
    import torch
    from lerobot.policies.act.modeling_act import ACTPolicy

    from policies.act import IMAGENET_STATS, SimRequirements, act_config, make_processors, write_sidecar

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
    write_sidecar(directory, SimRequirements(cameras={name: camera_size for name in cameras}))
    return directory


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 bench eval``; returns the process exit status."""
    import draccus

    from inference.evaluate import DEFAULT_SEED, EvalPool, RolloutSettings, eval_seeds

    cfg = draccus.parse(config_class=EvalBenchConfig, args=list(sys.argv[1:] if argv is None else argv))
    settings = RolloutSettings(episode_length=cfg.episode_length, n_action_steps=cfg.n_action_steps, device=cfg.device)
    with tempfile.TemporaryDirectory() as tmp:
        if cfg.checkpoint:
            checkpoint = Path(cfg.checkpoint)
            what = str(checkpoint)
        else:
            options = ActPolicyConfig(
                chunk_size=cfg.chunk_size, n_action_steps=cfg.n_action_steps, image_height=cfg.image_height,
                image_width=cfg.image_width, pretrained_backbone=False, device=cfg.device,
            )
            checkpoint = write_untrained_checkpoint(Path(tmp) / "act", options, (cfg.camera_height, cfg.camera_width))
            what = (
                f"untrained default-size ACT at {cfg.image_height}x{cfg.image_width}, cameras "
                f"{cfg.camera_height}x{cfg.camera_width}, n_action_steps {cfg.n_action_steps}"
            )
        with EvalPool(cfg.workers) as pool:
            pool.evaluate(checkpoint, eval_seeds(DEFAULT_SEED - 1000, max(cfg.workers, 1)), settings)  # warm-up
            summary, _ = pool.evaluate(checkpoint, eval_seeds(DEFAULT_SEED, cfg.episodes), settings)
    print(f"so101 bench eval: {what}; {cfg.episodes} episodes, {cfg.workers} workers, device {cfg.device}")
    print(f"  episodes per minute     {summary.episodes_per_min:8.1f}   (target >= 30 with 2 workers)")
    print(f"  ms per policy call      {summary.ms_per_policy_call:8.1f}")
    print(f"  steps per episode       {summary.avg_steps:8.1f}   ({summary.avg_wall_s:.2f} s wall per episode per worker)")
    return 0
