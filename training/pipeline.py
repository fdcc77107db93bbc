"""``so101 pipeline``: the whole path on the embedded default, with no hardware.

    so101 pipeline --output outputs/demo

1. record ``--episodes`` demonstrations of the scripted expert (``so101 record``);
2. replay the first one to a video (``so101 replay``), which also proves the recording re-simulates;
   with ``--encoder_steps`` > 0, pretrain the policy's image backbone on labelled random scenes posed like the
   demonstrations (``so101 pretrain-encoder``) and train ACT on it, frozen;
3. train ACT for ``--steps`` with in-loop evaluation on the selection seeds (``so101 train``);
4. evaluate the best checkpoint on ``--final_episodes`` test scenes, with a video (``so101 eval``): the test seeds,
   disjoint from the selection seeds on which in-loop evaluation chose it (``so101.inference.seeds``); with ``--grid N``
   also on an N x N grid of brick positions (``so101 eval --grid.size N``: heatmaps of success and failure modes);
5. write ``report.md``: what was run, how long each stage took, what its success means, the success curve, the
   evaluation tables, which scene seeds each evaluation used, the heatmap and the videos.

``--preset demo`` (the default) fits a 2-core CPU in a few minutes: every stage working, not a working policy.
``--preset cpu`` is the learning study's recipe for a CPU; ``--preset gpu`` LeRobot's default ACT size. Each stage is
the subcommand of the same name called with the arguments shown in the report, so any stage can be re-run by hand.
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

# The scripted expert's demonstrations: waypoints jittered so states off the nominal path are seen, one pace and no
# deliberate regrasps, so the same state is never demonstrated two ways (docs/results/learning-study.md, part 2).
DEMONSTRATIONS = (
    "--expert.noise.enabled=true",
    "--expert.noise.regrasp_probability=0",
    "--expert.noise.speed_range=[1.0,1.0]",
)
# Small enough to train on a CPU in minutes; LeRobot's defaults otherwise. Without ACT's variational objective:
# the scripted demonstrations show one way per scene (see DEMONSTRATIONS).
SMALL_ACT = [
    "--policy.dim_model=128",
    "--policy.n_heads=4",
    "--policy.dim_feedforward=512",
    "--policy.n_encoder_layers=2",
    "--policy.use_vae=false",
    "--policy.chunk_size=30",
    "--policy.n_action_steps=30",
    "--policy.image_height=96",
    "--policy.image_width=128",
    "--optimizer.lr=1e-4",
]
# The learning study's CPU recipe (docs/results/learning-study.md): ACT with a 256-wide transformer on 96x128 images
# and no variational objective, a cosine schedule from 3e-4, whole 30-action chunks executed. With the preset's
# pretrained, frozen backbone no image is shifted: a shift moves the fixed overhead view's brick by centimetres.
# Without one (--encoder_steps 0) the backbone starts from random weights with calibrated batch norms.
CPU_ACT = [
    "--policy.dim_model=256",
    "--policy.n_heads=8",
    "--policy.dim_feedforward=1024",
    "--policy.n_encoder_layers=4",
    "--policy.use_vae=false",
    "--policy.chunk_size=30",
    "--policy.n_action_steps=30",
    "--policy.image_height=96",
    "--policy.image_width=128",
    "--policy.calibrate_backbone=true",
    "--optimizer.lr=3e-4",
    "--optimizer.scheduler=cosine",
    "--optimizer.warmup_steps=300",
    "--optimizer.min_lr=1e-5",
]


@dataclass(frozen=True)
class Preset:
    """What one ``--preset`` records, trains and evaluates."""

    episodes: int
    width: int
    height: int
    steps: int
    batch_size: int
    eval_freq: int
    eval_episodes: int
    final_episodes: int
    grid: int
    encoder_steps: int
    """Steps of ``so101 pretrain-encoder`` (0: none, ACT's backbone learns from its action loss alone)."""
    encoder_scenes: int
    """Labelled random scenes it trains on."""
    policy: tuple[str, ...]
    summary: str
    """What its success means, for the report."""


PRESETS = {
    "demo": Preset(
        episodes=10, width=320, height=240, steps=300, batch_size=8, eval_freq=150, eval_episodes=6,
        final_episodes=6, grid=0, encoder_steps=0, encoder_scenes=0, policy=tuple(SMALL_ACT),
        summary="a few minutes that show every stage working; this short training does not make a working policy, "
        "so expect a success rate near 0% (docs/results/learning-study.md says where learning stands)",
    ),
    "cpu": Preset(
        episodes=200, width=128, height=96, steps=5000, batch_size=32, eval_freq=1000, eval_episodes=20,
        final_episodes=100, grid=7, encoder_steps=1500, encoder_scenes=20_000, policy=tuple(CPU_ACT),
        summary="the learning study's CPU recipe (docs/results/learning-study.md, part 3: 96% of 100 test scenes on "
        "2 cores in about 90 minutes); its final success rate on 100 test scenes estimates what the recipe learns, "
        "with the interval that many scenes allow",
    ),
    "gpu": Preset(
        episodes=200, width=640, height=480, steps=50_000, batch_size=8, eval_freq=5000, eval_episodes=30,
        final_episodes=100, grid=7, encoder_steps=0, encoder_scenes=0, policy=(),
        summary="LeRobot's default ACT at 228x304 on full-size frames, sized for a GPU",
    ),
}
"""``so101 pipeline --preset NAME``; every value can be overridden by its own option."""

Timings = list[tuple[str, str, float]]
"""(stage, command line, wall-clock seconds) of each stage run."""


@dataclass
class PipelineCameras(CameraOptions):
    """The robot cameras of the demonstrations; their size defaults to the preset's."""

    width: int | None = None  # type: ignore[assignment]
    """Image width (pixels) of every camera; default: the preset's."""
    height: int | None = None  # type: ignore[assignment]
    """Image height (pixels) of every camera; default: the preset's."""

    def __post_init__(self) -> None:
        if self.width is not None and self.height is not None:  # else checked once the preset's size is in
            super().__post_init__()


@dataclass
class PipelineConfig:
    """Options of ``so101 pipeline``. Options left unset take the ``--preset``'s value."""

    output: Path = Path("outputs/demo")
    """Folder for everything the pipeline writes (dataset/, train/, eval/, report.md); must not hold a dataset yet."""
    preset: Literal["demo", "cpu", "gpu"] = "demo"
    """``demo`` (minutes: every stage, no working policy), ``cpu`` (the learning study's recipe for a CPU, about
    90 minutes on 2 cores) or ``gpu`` (LeRobot's default ACT size)."""
    episodes: int | None = None
    """Scripted demonstrations to record."""
    cameras: PipelineCameras = field(default_factory=PipelineCameras)
    """Cameras the demonstrations are recorded with (and the policy observes)."""
    steps: int | None = None
    """Training steps."""
    batch_size: int | None = None
    """Samples per training step."""
    eval_freq: int | None = None
    """In-loop evaluation every this many steps (and at the end)."""
    eval_episodes: int | None = None
    """Episodes of each in-loop evaluation (selection seeds)."""
    final_episodes: int | None = None
    """Episodes of the final evaluation of the best checkpoint (test seeds); 100 pin a rate to about +-9 points."""
    grid: int | None = None
    """Size of the final grid evaluation (``so101 eval --grid.size``); 0: none."""
    encoder_steps: int | None = None
    """Steps of pretraining the policy's image backbone (``so101 pretrain-encoder``), which ACT then keeps frozen;
    0: none."""
    encoder_scenes: int | None = None
    """Labelled random scenes the backbone pretrains on (with ``--encoder_steps``)."""
    policy_preset: Literal["small", "cpu", "default"] | None = None
    """ACT's configuration: ``small`` (minutes on a CPU), ``cpu`` (the study's recipe) or ``default`` (LeRobot's ACT
    at 228x304); default: the preset's."""
    seed: int = 0
    """Scene seed of the first recorded demonstration."""

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError("preset", self.preset, f"must be one of {', '.join(PRESETS)}")
        if self.policy_preset not in (None, "small", "cpu", "default"):
            raise ConfigError("policy_preset", self.policy_preset, "must be small, cpu or default")
        preset = PRESETS[self.preset]
        for name in ("episodes", "steps", "batch_size", "eval_freq", "eval_episodes", "final_episodes", "grid",
                     "encoder_steps", "encoder_scenes"):
            if getattr(self, name) is None:
                setattr(self, name, getattr(preset, name))
            least = 0 if name in ("grid", "encoder_steps", "encoder_scenes") else 1
            if getattr(self, name) < least:
                raise ConfigError(name, getattr(self, name), f"must be at least {least}")
        if self.cameras.width is None:
            self.cameras.width = preset.width
        if self.cameras.height is None:
            self.cameras.height = preset.height
        self.cameras.__post_init__()

    @property
    def policy_args(self) -> list[str]:
        """The training flags of ACT's configuration."""
        if self.policy_preset is None:
            return list(PRESETS[self.preset].policy)
        return {"small": SMALL_ACT, "cpu": CPU_ACT, "default": []}[self.policy_preset]

    @property
    def policy_image_size(self) -> tuple[int, int]:
        """(height, width) the policy sees: its flags' or ACT's default."""
        from so101.policies.act import ActPolicyConfig

        size = {"height": ActPolicyConfig.image_height, "width": ActPolicyConfig.image_width}
        for arg in self.policy_args:
            for name in size:
                if arg.startswith(f"--policy.image_{name}="):
                    size[name] = int(arg.split("=", 1)[1])
        return size["height"], size["width"]


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
    from so101.training import encoder_pretraining, train

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
                      f"--cameras.height={cameras.height}", f"--cameras.render_profile={cameras.render_profile}",
                      *DEMONSTRATIONS],
           record.main, timings)  # fmt: skip
    _stage("replay", ["replay", f"--dataset.root={dataset}", "--episode=0", f"--video={out / 'replay_episode_0.mp4'}",
                      f"--cameras.width={cameras.width}", f"--cameras.height={cameras.height}"],
           replay.main, timings)  # fmt: skip
    policy_args = cfg.policy_args
    if cfg.encoder_steps:
        encoder = out / "encoder.safetensors"
        height, width = cfg.policy_image_size
        _stage("pretrain-encoder", ["pretrain-encoder", f"--dataset.root={dataset}", f"--output={encoder}",
                                    f"--cameras=[{','.join(cameras.names)}]", f"--image_height={height}",
                                    f"--image_width={width}", f"--steps={cfg.encoder_steps}",
                                    f"--scenes={cfg.encoder_scenes}"],
               encoder_pretraining.main, timings)  # fmt: skip
        policy_args = [*policy_args, f"--policy.backbone_weights={encoder}", "--policy.freeze_backbone=true"]
    _stage("train", ["train", f"--dataset.root={dataset}", f"--output_dir={run}", f"--steps={cfg.steps}",
                     f"--batch_size={cfg.batch_size}", f"--eval_freq={cfg.eval_freq}", f"--save_freq={cfg.eval_freq}",
                     f"--eval.episodes={cfg.eval_episodes}", f"--log_freq={max(1, cfg.steps // 20)}", *policy_args],
           train.main, timings)  # fmt: skip
    # No --seed: the final evaluation runs on the test seeds, never on the selection seeds that chose best/.
    _stage("eval", ["eval", str(run / "best"), f"--episodes={cfg.final_episodes}", "--video=1",
                    f"--output_dir={final}"],
           evaluate_cmd.main, timings)  # fmt: skip
    if cfg.grid:
        _stage("grid", ["eval", str(run / "best"), f"--grid.size={cfg.grid}", f"--output_dir={out / 'grid'}"],
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
        f"Preset `{cfg.preset}`: {PRESETS[cfg.preset].summary}.",
        "",
        f"{cfg.episodes} scripted demonstrations (scenes from seed {cfg.seed} up), ACT "
        f"({cfg.policy_preset or cfg.preset}) trained for {cfg.steps} steps. In-loop evaluation chose the best "
        f"checkpoint on the {seed_set(selection)} scene seeds {seed_span(selection)}; the best one was then evaluated "
        f"on {len(final_seeds)} scenes it was not chosen on, the {seed_set(final_seeds)} scene seeds "
        f"{seed_span(final_seeds)}.",
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
    if cfg.grid:
        lines[-4:-4] = [
            "## Where it works: the brick on a grid",
            "",
            "![success and failure modes over the brick's position](grid/grid/grid_heatmap.png)",
            "",
        ]
    videos = sorted(final.glob("videos/**/*.mp4"))
    lines += [f"- an evaluation episode with the task signals drawn: `{video.relative_to(out)}`" for video in videos]
    report = out / "report.md"
    report.write_text("\n".join([*lines, ""]))
    return report
