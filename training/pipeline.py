"""``so101 pipeline``: the whole path on the embedded default, with no hardware.

    so101 pipeline --output outputs/demo

1. record ``--episodes`` demonstrations of the scripted expert (``so101 record``);
2. replay the first one to a video (``so101 replay``), which also proves the recording re-simulates;
3. train ACT for ``--steps`` with in-loop evaluation (``so101 train``);
4. evaluate the best checkpoint on ``--eval_episodes`` test scenes, with a video (``so101 eval``): the test seeds,
   disjoint from the selection seeds on which in-loop evaluation chose it (``so101.inference.seeds``);
5. write ``report.md``: what was run, how long each stage took, the success curve, the evaluation table, which
   scene seeds each evaluation used, and the videos.

The defaults fit a 2-core CPU in about ten minutes: a small ACT at 96x128 pixels, trained briefly. That shows
every stage working, not a good policy; for a real result raise ``--steps`` and ``--episodes`` and use the
default-size ACT (``--policy_preset default``), ideally on a GPU. Each stage is the subcommand of the same name
called with the arguments shown in the report, so any stage can be re-run by hand.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from so101.command import EXIT_INTERRUPTED
from so101.errors import ConfigError, So101Error
from so101.sim.options import CameraOptions

# Small enough to train on a CPU in minutes; LeRobot's defaults otherwise.
SMALL_ACT = [
    "--policy.dim_model=128",
    "--policy.n_heads=4",
    "--policy.dim_feedforward=512",
    "--policy.n_encoder_layers=2",
    "--policy.n_vae_encoder_layers=2",
    "--policy.chunk_size=30",
    "--policy.n_action_steps=30",
    "--policy.image_height=96",
    "--policy.image_width=128",
    "--optimizer.lr=1e-4",
]

Timings = list[tuple[str, str, float]]
"""(stage, command line, wall-clock seconds) of each stage run."""


@dataclass
class PipelineCameras(CameraOptions):
    """The robot cameras of the demonstrations: smaller than ``so101 record``'s default, to fit a CPU."""

    width: int = 320
    """Image width (pixels) of every camera."""
    height: int = 240
    """Image height (pixels) of every camera."""


@dataclass
class PipelineConfig:
    """Options of ``so101 pipeline``."""

    output: Path = Path("outputs/demo")
    """Folder for everything the pipeline writes (dataset/, train/, eval/, report.md); must not hold a dataset yet."""
    episodes: int = 10
    """Scripted demonstrations to record."""
    cameras: PipelineCameras = field(default_factory=PipelineCameras)
    """Cameras the demonstrations are recorded with (and the policy observes)."""
    steps: int = 300
    """Training steps."""
    batch_size: int = 8
    """Samples per training step."""
    eval_freq: int = 150
    """In-loop evaluation every this many steps (and at the end)."""
    eval_episodes: int = 6
    """Episodes of each evaluation (in-loop and final); 30 or more for a trustworthy success rate."""
    policy_preset: Literal["small", "default"] = "small"
    """``small`` (CPU-sized ACT at 96x128) or ``default`` (LeRobot's ACT size at 228x304)."""
    seed: int = 0
    """Scene seed of the first recorded demonstration."""

    def __post_init__(self) -> None:
        if self.policy_preset not in ("small", "default"):
            raise ConfigError("policy_preset", self.policy_preset, "must be small or default")
        for name in ("episodes", "steps", "batch_size", "eval_episodes", "eval_freq"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(self, name)}")


def _stage(name: str, command: list[str], main: Callable[[list[str]], int], timings: Timings) -> None:
    """Run ``so101 <command>`` through its entry point ``main``; a failed stage stops the pipeline."""
    print(f"\n=== {name}: so101 {' '.join(command)}", flush=True)
    start = time.perf_counter()
    status = main(command[1:])
    if status == EXIT_INTERRUPTED:
        raise KeyboardInterrupt
    if status:
        raise So101Error(f"the {name} stage failed (exit status {status}); fix what its message above names")
    timings.append((name, "so101 " + " ".join(command), time.perf_counter() - start))


def run_pipeline(cfg: PipelineConfig) -> int:
    """Record, replay, train, evaluate and report; returns the exit status."""
    from so101.inference import evaluate_cmd
    from so101.recording import record, replay
    from so101.training import train

    out = cfg.output
    dataset, run, final = out / "dataset", out / "train", out / "eval"
    if dataset.exists():
        raise FileExistsError(f"{dataset} exists already; choose a new --output or remove it")
    out.mkdir(parents=True, exist_ok=True)
    timings: Timings = []
    cameras = cfg.cameras
    _stage("record", ["record", "--teleop=scripted", f"--episodes={cfg.episodes}", f"--seed={cfg.seed}",
                      "--dataset.repo_id=local/so101_pipeline", f"--dataset.root={dataset}",
                      f"--cameras.names=[{','.join(cameras.names)}]", f"--cameras.width={cameras.width}",
                      f"--cameras.height={cameras.height}", f"--cameras.render_profile={cameras.render_profile}"],
           record.main, timings)  # fmt: skip
    _stage("replay", ["replay", f"--dataset.root={dataset}", "--episode=0", f"--video={out / 'replay_episode_0.mp4'}",
                      f"--cameras.width={cameras.width}", f"--cameras.height={cameras.height}"],
           replay.main, timings)  # fmt: skip
    policy_args = SMALL_ACT if cfg.policy_preset == "small" else []
    _stage("train", ["train", f"--dataset.root={dataset}", f"--output_dir={run}", f"--steps={cfg.steps}",
                     f"--batch_size={cfg.batch_size}", f"--eval_freq={cfg.eval_freq}", f"--save_freq={cfg.eval_freq}",
                     f"--eval.episodes={cfg.eval_episodes}", f"--log_freq={max(1, cfg.steps // 20)}", *policy_args],
           train.main, timings)  # fmt: skip
    # No --seed: the final evaluation runs on the test seeds, never on the selection seeds that chose best/.
    _stage("eval", ["eval", str(run / "best"), f"--episodes={cfg.eval_episodes}", "--video=1",
                    f"--output_dir={final}"],
           evaluate_cmd.main, timings)  # fmt: skip
    report = write_report(cfg, timings, run, final)
    print(f"\nreport: {report}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 pipeline``; returns the process exit status."""
    from so101.command import run_command

    return run_command("pipeline", PipelineConfig, run_pipeline, argv)


def write_report(cfg: PipelineConfig, timings: Timings, run: Path, final: Path) -> Path:
    """``report.md`` in the output folder, linking the curve, the table and the videos by relative paths."""
    from so101.inference.report import markdown_table, summary_from_json
    from so101.inference.seeds import describe_seeds, seed_set, seed_span
    from so101.training.in_loop_eval import CURVE_NAME, HISTORY_NAME

    out = cfg.output
    history = json.loads((run / HISTORY_NAME).read_text())
    selection = history["seeds"]
    final_seeds = json.loads((final / "eval_results.json").read_text())["evaluations"][0]["seeds"]
    lines = [
        "# so101 pipeline report",
        "",
        f"{cfg.episodes} scripted demonstrations (scenes from seed {cfg.seed} up), ACT ({cfg.policy_preset}) "
        f"trained for {cfg.steps} steps. In-loop evaluation chose the best checkpoint on the {seed_set(selection)} "
        f"scene seeds {seed_span(selection)}; the best one was then evaluated on {cfg.eval_episodes} scenes it was "
        f"not chosen on, the {seed_set(final_seeds)} scene seeds {seed_span(final_seeds)}.",
        "",
        "| stage | command | time |",
        "|---|---|---|",
        *(f"| {name} | `{command}` | {seconds:.0f} s |" for name, command, seconds in timings),
        "",
        "## Success during training",
        "",
        f"![success vs step]({(run / CURVE_NAME).relative_to(out)})",
        "",
        markdown_table([summary_from_json(item) for item in history["evaluations"]]),
        f"Evaluated on {describe_seeds(selection)}.",
        "",
        "## Final evaluation of the best checkpoint",
        "",
        (final / "eval_results.md").read_text(),
        "",
        "## Videos",
        "",
        "- a recorded demonstration, re-simulated from its scene and actions: `replay_episode_0.mp4`",
    ]
    videos = sorted(final.glob("videos/**/*.mp4"))
    lines += [f"- an evaluation episode with the task signals drawn: `{video.relative_to(out)}`" for video in videos]
    report = out / "report.md"
    report.write_text("\n".join([*lines, ""]))
    return report
