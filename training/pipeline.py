"""``so101 pipeline``: the whole path on the embedded default, with no hardware.

    so101 pipeline --output outputs/demo

1. record ``--episodes`` demonstrations of the scripted expert (``so101 record``);
2. replay the first one to a video (``so101 replay``), which also proves the recording re-simulates;
3. train ACT for ``--steps`` with in-loop evaluation (``so101 train``);
4. evaluate the best checkpoint on ``--eval_episodes`` fresh scenes, with a video (``so101 eval``);
5. write ``report.md``: what was run, how long each stage took, the success curve, the evaluation table and the
   videos.

The defaults fit a 2-core CPU in about ten minutes: a small ACT at 96x128 pixels, trained briefly. That shows
every stage working, not a good policy; for a real result raise ``--steps`` and ``--episodes`` and use the
default-size ACT (``--policy_preset default``), ideally on a GPU. Each stage is the subcommand of the same name
called with the arguments shown in the report, so any stage can be re-run by hand.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class PipelineConfig:
    output: Path = Path("outputs/demo")
    episodes: int = 10
    """Scripted demonstrations to record."""
    camera_width: int = 320
    camera_height: int = 240
    steps: int = 300
    """Training steps."""
    batch_size: int = 8
    eval_freq: int = 150
    """In-loop evaluation every this many steps (and at the end)."""
    eval_episodes: int = 6
    """Episodes of each evaluation (in-loop and final); 30 or more for a trustworthy success rate."""
    policy_preset: str = "small"
    """``small`` (CPU-sized ACT at 96x128) or ``default`` (LeRobot's ACT size at 228x304)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.policy_preset not in ("small", "default"):
            raise ValueError(f"--policy_preset must be small or default, got {self.policy_preset!r}")
        for name in ("episodes", "steps", "eval_episodes", "eval_freq"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1")


def _stage(name: str, command: list[str], main, timings: list[tuple[str, str, float]]) -> None:
    print(f"\n=== {name}: so101 {' '.join(command)}", flush=True)
    start = time.perf_counter()
    status = main(command[1:])
    if status:
        raise SystemExit(f"so101 pipeline: the {name} stage failed (exit status {status}); see the output above")
    timings.append((name, "so101 " + " ".join(command), time.perf_counter() - start))


def main(argv: list[str]) -> int:
    import draccus

    from inference import evaluate
    from recording import record, replay
    from training import train

    cfg = draccus.parse(config_class=PipelineConfig, args=argv)
    out = cfg.output
    out.mkdir(parents=True, exist_ok=True)
    dataset, run, final = out / "dataset", out / "train", out / "eval"
    timings: list[tuple[str, str, float]] = []
    if dataset.exists():
        raise SystemExit(f"so101 pipeline: {dataset} exists already; choose a new --output or remove it")

    _stage("record", ["record", "--teleop=scripted", f"--episodes={cfg.episodes}", f"--seed={cfg.seed}",
                      "--dataset.repo_id=local/so101_pipeline", f"--dataset.root={dataset}",
                      f"--camera_width={cfg.camera_width}", f"--camera_height={cfg.camera_height}"],
           record.main, timings)  # fmt: skip
    _stage("replay", ["replay", f"--dataset.root={dataset}", "--episode=0", f"--video={out / 'replay_episode_0.mp4'}"],
           replay.main, timings)  # fmt: skip
    policy_args = SMALL_ACT if cfg.policy_preset == "small" else []
    _stage("train", ["train", f"--dataset.root={dataset}", f"--output_dir={run}", f"--steps={cfg.steps}",
                     f"--batch_size={cfg.batch_size}", f"--eval_freq={cfg.eval_freq}", f"--save_freq={cfg.eval_freq}",
                     f"--eval.episodes={cfg.eval_episodes}", f"--log_freq={max(1, cfg.steps // 20)}", *policy_args],
           train.main, timings)  # fmt: skip
    _stage("eval", ["eval", str(run / "best"), f"--episodes={cfg.eval_episodes}", "--video=1",
                    f"--output_dir={final}"],
           evaluate.main, timings)  # fmt: skip
    report = write_report(cfg, timings, run, final)
    print(f"\nreport: {report}")
    return 0


def write_report(cfg: PipelineConfig, timings: list[tuple[str, str, float]], run: Path, final: Path) -> Path:
    """``report.md`` in the output folder, linking the curve, the table and the videos by relative paths."""
    from inference.report import markdown_table, summary_from_json
    from training.in_loop_eval import CURVE_NAME, HISTORY_NAME

    out = cfg.output
    lines = [
        "# so101 pipeline report",
        "",
        f"{cfg.episodes} scripted demonstrations, ACT ({cfg.policy_preset}) trained for {cfg.steps} steps, "
        f"evaluated on {cfg.eval_episodes} unseen scenes.",
        "",
        "| stage | command | time |",
        "|---|---|---|",
        *(f"| {name} | `{command}` | {seconds:.0f} s |" for name, command, seconds in timings),
        "",
        "## Success during training",
        "",
        f"![success vs step]({(run / CURVE_NAME).relative_to(out)})",
        "",
        markdown_table([summary_from_json(item) for item in json.loads((run / HISTORY_NAME).read_text())["evaluations"]]),
        "",
        "## Final evaluation of the best checkpoint",
        "",
        (final / "eval_results.md").read_text(),
        "",
        "## Videos",
        "",
        "- a recorded demonstration, re-simulated from its scene and actions: `replay_episode_0.mp4`",
        *(f"- an evaluation episode with the task signals drawn: `{video.relative_to(out)}`"
          for video in sorted(final.glob("videos/**/*.mp4"))),  # fmt: skip
        "",
    ]
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report
