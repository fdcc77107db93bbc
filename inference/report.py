"""Evaluation results: per-episode records, their summary with a 95% Wilson interval, and the JSON, Markdown and
plot written for a checkpoint or a whole run.

Why Wilson: with 30 episodes a measured 70% is compatible with anything from about 52% to 83%; the interval says
so, and unlike the normal approximation it stays inside [0, 1] at 0% and 100%.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Z_95 = 1.959963984540054


@dataclass
class EvalEpisode:
    """One evaluation episode of a policy in the simulator."""

    seed: int
    """Scene seed the episode started from."""
    success: bool
    grasped: bool
    lifted: bool
    released_over_bowl: bool
    steps: int
    """Control steps taken (1/fps s of sim time each); the episode's full length when it timed out."""
    wall_s: float
    """Wall-clock seconds the episode took in its worker."""
    policy_calls: int
    """Times the policy was queried (once per chunk, or every step with temporal ensembling)."""
    policy_s: float
    """Wall-clock seconds spent in the policy (preprocessing, network, postprocessing)."""
    policy_max_s: float = 0.0
    """Wall-clock seconds of the slowest policy call of the episode."""
    video: str | None = None
    """mp4 of the episode, when one was written."""
    ik_steps: int = 0
    """End-effector policies: actions that went through the IK."""
    ik_failures: int = 0
    """End-effector policies: of those, the steps whose pose the IK could not reach."""
    failure: str = ""
    """Why it failed (``so101.inference.episode.failure_mode``): ``not_grasped``, ``dropped``, ``released_outside_bowl``
    or ``time_out``; empty on success."""


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion; (0, 1) when n is 0."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class EvalSummary:
    """Aggregates of one checkpoint's evaluation. Rates are fractions in [0, 1]."""

    episodes: int
    successes: int
    success_rate: float
    success_ci95: tuple[float, float]
    grasped_rate: float
    lifted_rate: float
    released_over_bowl_rate: float
    avg_steps: float
    avg_sim_s: float
    avg_wall_s: float
    ms_per_policy_call: float
    """Mean wall-clock milliseconds of one policy call."""
    episodes_per_min: float
    """Throughput of the whole evaluation (all workers), wall clock."""
    step: int | None = None
    """Training step of the checkpoint, when known."""
    checkpoint: str | None = None
    seeds: list[int] = field(default_factory=list)
    """Scene seeds of the episodes, in order (see ``so101.inference.seeds``)."""
    max_ms_per_policy_call: float = 0.0
    """Wall-clock milliseconds of the slowest policy call of the evaluation."""
    ik_failure_rate: float | None = None
    """End-effector policies: share of their actions the IK could not reach; None for joint-space policies."""

    def metrics(self, prefix: str = "eval/") -> dict[str, float]:
        """Scalars for loggers (wandb)."""
        return {
            f"{prefix}success_rate": self.success_rate,
            f"{prefix}success_ci95_low": self.success_ci95[0],
            f"{prefix}success_ci95_high": self.success_ci95[1],
            f"{prefix}grasped_rate": self.grasped_rate,
            f"{prefix}lifted_rate": self.lifted_rate,
            f"{prefix}released_over_bowl_rate": self.released_over_bowl_rate,
            f"{prefix}avg_steps": self.avg_steps,
            f"{prefix}avg_wall_s": self.avg_wall_s,
            f"{prefix}ms_per_policy_call": self.ms_per_policy_call,
            f"{prefix}max_ms_per_policy_call": self.max_ms_per_policy_call,
            f"{prefix}episodes_per_min": self.episodes_per_min,
            **({} if self.ik_failure_rate is None else {f"{prefix}ik_failure_rate": self.ik_failure_rate}),
        }

    def line(self) -> str:
        low, high = self.success_ci95
        return (
            f"success {self.success_rate:.1%} [{low:.1%}, {high:.1%}] ({self.successes}/{self.episodes}) | "
            f"grasped {self.grasped_rate:.0%} lifted {self.lifted_rate:.0%} "
            f"released {self.released_over_bowl_rate:.0%} | {self.avg_steps:.0f} steps, "
            f"{self.avg_wall_s:.2f} s/episode | {self.episodes_per_min:.1f} episodes/min"
            + ("" if self.ik_failure_rate is None else f" | IK failures {self.ik_failure_rate:.2%}")
        )


def summarize(
    results: list[EvalEpisode], fps: int, elapsed_s: float, step: int | None = None, checkpoint: str | None = None
) -> EvalSummary:
    """Aggregate episodes run at ``fps`` control steps per second of sim time, ``elapsed_s`` of wall clock in all."""
    n = len(results)
    if n == 0:
        raise ValueError("no episodes to summarize")
    successes = sum(r.success for r in results)
    calls = sum(r.policy_calls for r in results)
    ik_steps = sum(r.ik_steps for r in results)
    return EvalSummary(
        episodes=n,
        successes=successes,
        success_rate=successes / n,
        success_ci95=wilson_interval(successes, n),
        grasped_rate=sum(r.grasped for r in results) / n,
        lifted_rate=sum(r.lifted for r in results) / n,
        released_over_bowl_rate=sum(r.released_over_bowl for r in results) / n,
        avg_steps=sum(r.steps for r in results) / n,
        avg_sim_s=sum(r.steps for r in results) / n / fps,
        avg_wall_s=sum(r.wall_s for r in results) / n,
        ms_per_policy_call=1000.0 * sum(r.policy_s for r in results) / max(calls, 1),
        episodes_per_min=60.0 * n / elapsed_s if elapsed_s > 0 else float("nan"),
        step=step,
        checkpoint=checkpoint,
        seeds=[r.seed for r in results],
        max_ms_per_policy_call=1000.0 * max(r.policy_max_s for r in results),
        ik_failure_rate=sum(r.ik_failures for r in results) / ik_steps if ik_steps else None,
    )


def summary_from_json(data: dict[str, Any]) -> EvalSummary:
    """An ``EvalSummary`` read back from ``write_json``'s output (or a run's ``eval_history.json``)."""
    data = dict(data)
    data["success_ci95"] = tuple(data["success_ci95"])
    return EvalSummary(**data)


def write_json(
    path: Path,
    summaries: list[EvalSummary],
    episodes: dict[str, list[EvalEpisode]] | None = None,
    scene_seeds: dict[str, Any] | None = None,
) -> None:
    """Summaries (and per-episode records by checkpoint name) as JSON; ``scene_seeds`` says which scenes were used
    (``so101.inference.seeds.seeds_record``)."""
    payload: dict[str, Any] = {}
    if scene_seeds is not None:
        payload["scene_seeds"] = scene_seeds
    payload["evaluations"] = [asdict(s) for s in summaries]
    if episodes is not None:
        payload["episodes"] = {name: [asdict(r) for r in results] for name, results in episodes.items()}
    Path(path).write_text(json.dumps(payload, indent=2))


def markdown_table(summaries: list[EvalSummary]) -> str:
    """One row per checkpoint; the best success rate is in bold when there are several."""
    lines = [
        "| checkpoint | step | success | 95% CI | grasped | lifted | released over bowl | avg steps | s/episode |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    best = max(summaries, key=lambda s: s.success_rate) if summaries else None
    for s in summaries:
        name = s.checkpoint
        if s.checkpoint and Path(s.checkpoint).name == "pretrained_model":
            name = Path(s.checkpoint).parent.name
        success = f"{s.success_rate:.1%}"
        if s is best and len(summaries) > 1:
            success = f"**{success}**"
        lines.append(
            f"| {name} | {'' if s.step is None else s.step} | {success} ({s.successes}/{s.episodes}) | "
            f"{s.success_ci95[0]:.1%} - {s.success_ci95[1]:.1%} | {s.grasped_rate:.0%} | {s.lifted_rate:.0%} | "
            f"{s.released_over_bowl_rate:.0%} | {s.avg_steps:.1f} | {s.avg_wall_s:.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot_curve(path: Path, summaries: list[EvalSummary], title: str = "Success rate vs training step") -> None:
    """Success rate (with its 95% interval as a band) and phase rates against the training step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sorted((s for s in summaries if s.step is not None), key=lambda s: s.step)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    if points:
        steps = [s.step for s in points]
        ax.fill_between(
            steps, [100 * s.success_ci95[0] for s in points], [100 * s.success_ci95[1] for s in points],
            alpha=0.2, color="C0", label="95% Wilson interval",
        )
        ax.plot(steps, [100 * s.success_rate for s in points], "o-", color="C0", label="success")
        ax.plot(steps, [100 * s.grasped_rate for s in points], "--", color="C1", alpha=0.7, label="grasped")
        ax.plot(steps, [100 * s.released_over_bowl_rate for s in points], ":", color="C2", alpha=0.7,
                label="released over bowl")
        ax.set_title(f"{title} ({points[-1].episodes} episodes per point)")
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.set_title(title)
    ax.set_xlabel("training step")
    ax.set_ylabel("% of episodes")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
