"""``so101 eval PATH``: evaluate a checkpoint, or every checkpoint of a training run, in the simulator.

    so101 eval outputs/train/act_run                      # every checkpoint of a run: table + curve
    so101 eval outputs/train/act_run/best --episodes 100 --video 4
    so101 eval CKPT --temporal-ensemble 0.01              # ACT's temporal ensembling (queries every step)
    so101 eval RUN --backend ray --ray.address auto --workers 16   # on a Ray cluster (docs/scaling-out.md)
    so101 eval CKPT --render                              # watch the episodes in a window, at real time
    so101 eval CKPT --grid.size 7                         # the brick on a 7x7 grid: success and failure heatmaps

Every checkpoint is evaluated on the same scenes: episode ``i`` uses scene seed ``seed + i``. The default seeds are
the test seeds (``so101.inference.seeds``), disjoint from the selection seeds on which in-loop evaluation chose a run's
``best/``, so the success rate of ``best/`` is not inflated by its selection. The reports say which seeds were used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from so101.errors import ConfigError, DeviceError
from so101.inference.grid import GridOptions
from so101.inference.seeds import TEST_SEEDS
from so101.ray_cluster import RayOptions
from so101.sim.options import EPISODE_TIME_S
from so101.sim.rendering import RenderProfile


@dataclass
class EvalCommandConfig:
    """Options of ``so101 eval PATH``."""

    path: Path | None = None
    """A checkpoint (its folder or its pretrained_model folder), or a training run to evaluate all its checkpoints;
    given as the first argument."""
    episodes: int = 30
    """Episodes per checkpoint: at 70 percent success, 30 episodes pin the rate down to about +-16 points (95
    percent interval), 100 episodes to about +-9."""
    workers: int = 2
    """Worker processes, each with its own simulator and copy of the policy; 0 runs the episodes in this process.
    On the Ray backend: Ray workers on the cluster."""
    backend: Literal["local", "ray"] = "local"
    """Where the episodes run: ``local`` (worker processes on this machine) or ``ray`` (Ray workers on the cluster
    of --ray.address; the same results episode by episode)."""
    ray: RayOptions = field(default_factory=RayOptions)
    """The Ray cluster of --backend ray (``--ray.address``, ``--ray.cpus_per_worker``)."""
    seed: int = TEST_SEEDS.start
    """Scene seed of the first episode; episode i uses seed + i. The default is the first test seed: scenes that
    in-loop evaluation never chose a checkpoint on."""
    video: int = 0
    """Write mp4s of the first K episodes of each checkpoint, with the task signals drawn."""
    n_action_steps: int | None = None
    """Actions of each predicted chunk executed before the policy is queried again; default: the checkpoint's."""
    temporal_ensemble: float | None = None
    """ACT temporal-ensembling coefficient (e.g. 0.01): queries the policy every step; default: off."""
    episode_time_s: float = EPISODE_TIME_S
    """Sim seconds before an episode counts as failed."""
    device: str | None = None
    """Device of the policy: cuda, cpu or mps; default: the best available."""
    render_profile: RenderProfile | None = None
    """Camera render profile, fast or quality; default: the one the checkpoint's data was recorded with."""
    render: bool = False
    """Watch the episodes in a window at real time (in this process) instead of writing reports."""
    output_dir: Path | None = None
    """Where reports go; default: PATH/eval for a run, else eval/ next to the checkpoint."""
    grid: GridOptions = field(default_factory=GridOptions)
    """Evaluate on a grid of brick positions instead of random scenes (``--grid.size N``): heatmaps of success and
    of each failure mode (``so101.inference.grid``); ``--episodes`` and ``--seed`` do not apply."""

    def __post_init__(self) -> None:
        if self.path is None or not str(self.path):
            raise ValueError("give a checkpoint or a training run: so101 eval PATH [--episodes N ...]")
        if self.episodes < 1:
            raise ConfigError("episodes", self.episodes, "must be at least 1")
        if self.workers < 0:
            raise ConfigError("workers", self.workers, "must be at least 0 (0 runs in this process)")
        if self.video < 0:
            raise ConfigError("video", self.video, "must be at least 0")
        if self.n_action_steps is not None and self.n_action_steps < 1:
            raise ConfigError("n_action_steps", self.n_action_steps, "must be at least 1")
        if self.temporal_ensemble is not None and self.n_action_steps not in (None, 1):
            raise ValueError("--temporal_ensemble queries the policy every step: drop --n_action_steps or set it to 1")
        if self.episode_time_s <= 0:
            raise ConfigError("episode_time_s", self.episode_time_s, "must be positive")
        if self.backend == "ray" and self.workers < 1:
            raise ConfigError("workers", self.workers, "must be at least 1 with --backend ray")
        if self.backend == "ray" and self.render:
            raise ConfigError(("render", "backend"), (True, "ray"), "cannot be combined: the viewer runs in this "
                              "process; drop --render to evaluate on the cluster", "true and 'ray'")
        if self.render and self.grid.enabled:
            raise ConfigError(("render", "grid.size"), (True, self.grid.size), "cannot be combined: the viewer plays "
                              "random scenes; evaluate the grid headless", "true")


def evaluate_command(cfg: EvalCommandConfig) -> int:
    """Run ``so101 eval`` with parsed options; returns the exit status."""
    from so101.inference.discovery import checkpoint_step, default_output_dir, find_checkpoints
    from so101.inference.episode import RolloutSettings
    from so101.inference.ray_eval import make_pool
    from so101.inference.report import EvalEpisode, EvalSummary, markdown_table, plot_curve, write_json
    from so101.inference.seeds import describe_seeds, eval_seeds, seeds_record
    from so101.policies.checkpoint import (
        apply_inference_overrides,
        check_sim_compatibility,
        load_config,
        sim_requirements,
    )

    assert cfg.path is not None  # checked by the config
    from so101.sim.viewer import has_display

    if cfg.render and not has_display():
        raise DeviceError(
            "--render needs a display: run on a desktop session or under a virtual one (xvfb-run -a so101 eval ... "
            "--render); without --render the evaluation runs headless"
        )
    checkpoints = find_checkpoints(cfg.path)
    for checkpoint in checkpoints:  # every mismatch is named before any worker starts
        config = load_config(checkpoint)
        check_sim_compatibility(config, checkpoint)
        apply_inference_overrides(config, cfg.n_action_steps, cfg.temporal_ensemble)
    settings = RolloutSettings(
        episode_time_s=cfg.episode_time_s,
        n_action_steps=cfg.n_action_steps,
        temporal_ensemble=cfg.temporal_ensemble,
        device=cfg.device,
        render_profile=cfg.render_profile,
    )
    seeds = eval_seeds(cfg.seed, cfg.episodes)
    placements, cells = None, []
    if cfg.grid.enabled:
        from so101.inference.grid import grid_scenes
        from so101.sim.randomization import RandomizationConfig
        from so101.sim.scene import SceneConfig, build_scene

        scene = build_scene(SceneConfig(brick=sim_requirements(checkpoints[-1], load_config(checkpoints[-1])).brick))
        placements, cells = grid_scenes(cfg.grid, RandomizationConfig(), scene.brick_half_size)
        seeds = [int(placement.seed) for placement in placements]  # type: ignore[arg-type]
    if cfg.render:
        from so101.inference.watch import watch

        results = watch(checkpoints[-1], seeds, settings)
        successes = sum(r.success for r in results)
        print(f"{successes}/{len(results)} successes; {describe_seeds([r.seed for r in results])}")
        return 0
    output = cfg.output_dir or default_output_dir(Path(cfg.path))
    summaries: list[EvalSummary] = []
    episodes: dict[str, list[EvalEpisode]] = {}
    with make_pool(cfg.backend, cfg.workers, cfg.ray) as pool:
        for checkpoint in checkpoints:
            name = checkpoint.parent.name
            summary, results = pool.evaluate(
                checkpoint, seeds, settings, cfg.video, output / "videos" / name, step=checkpoint_step(checkpoint),
                placements=placements,
            )
            summaries.append(summary)
            episodes[name] = results
            print(f"{name}: {summary.line()}", flush=True)
            if cfg.grid.enabled:
                from so101.inference.grid import write_grid_report

                folder = output / "grid" / name if len(checkpoints) > 1 else output / "grid"
                write_grid_report(folder, cfg.grid, RandomizationConfig(), cells, results,
                                  f"{name}: {summary.successes}/{summary.episodes} successes on the grid")
                print(f"{name}: grid heatmap {folder / 'grid_heatmap.png'}")
    output.mkdir(parents=True, exist_ok=True)  # only now: a checkpoint that fails to load leaves nothing behind
    write_json(output / "eval_results.json", summaries, episodes, scene_seeds=seeds_record(seeds))
    report = markdown_table(summaries) + f"\nEvaluated on {describe_seeds(seeds)}.\n"
    (output / "eval_results.md").write_text(report)
    plot_curve(output / "eval_curve.png", summaries)
    print(report)
    videos = f", videos in {output / 'videos'}" if cfg.video else ""
    print(f"wrote {output / 'eval_results.json'}, eval_results.md, eval_curve.png{videos}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 eval``; returns the process exit status."""
    from so101.command import run_command

    return run_command("eval", EvalCommandConfig, evaluate_command, argv, positional="path")
