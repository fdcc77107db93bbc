"""Evaluation in the simulator during training: success, not loss, is what a checkpoint is judged by.

Every evaluation runs the checkpoint just saved on the same scene seeds (``eval.seed``, ``eval.seed + 1``, ...):
the selection seeds of ``so101.inference.seeds``, disjoint from the test seeds that ``so101 eval`` uses by default for
the final estimate of ``best/``. It runs in the same worker processes (started at the first evaluation, kept for
the run), through exactly the code path of ``so101 eval``. After each one, ``eval_history.json`` and
``eval_curve.png`` in the run folder are rewritten and ``best/`` is refreshed when the success rate beats every
earlier one (ties keep the earlier, cheaper checkpoint).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from so101.inference.episode import RolloutSettings
from so101.inference.evaluate import EvalPool
from so101.inference.report import EvalSummary, plot_curve, summary_from_json
from so101.inference.seeds import SELECTION_SEEDS, TEST_SEEDS, eval_seeds, overlaps, seeds_record
from so101.recording.atomic_file import write_atomic
from so101.sim.options import EPISODE_TIME_S
from so101.sim.rendering import RenderProfile
from so101.training.checkpoints import publish_best

HISTORY_NAME = "eval_history.json"
CURVE_NAME = "eval_curve.png"


@dataclass
class InLoopEvalConfig:
    """Options of the evaluation during training (``--eval.*``)."""

    episodes: int = 30
    """Episodes per evaluation: at 70 percent success, 30 episodes pin the rate down to about +-16 points (95
    percent interval), 10 episodes to about +-29."""
    workers: int = 2
    """Worker processes (each with its own simulator and copy of the policy); 0 runs episodes in the trainer."""
    seed: int = SELECTION_SEEDS.start
    """Scene seed of the first episode; the same list for every checkpoint. Default: the first selection seed
    (the test seeds, from 200000, are kept for the final evaluation)."""
    episode_time_s: float = EPISODE_TIME_S
    """Sim seconds before an episode counts as failed."""
    device: str | None = "cpu"
    """Device of the policy in the workers; cpu keeps the GPU for training (None picks the best available)."""
    render_profile: RenderProfile | None = None
    """Camera render profile, fast or quality; default: the one the dataset was recorded in (else fast)."""
    video: int = 0
    """mp4s of the first K episodes of each evaluation, in the run's eval/videos."""

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.workers < 0 or self.video < 0 or self.episode_time_s <= 0:
            raise ValueError(
                "--eval.episodes must be >= 1, --eval.workers and --eval.video >= 0, --eval.episode_time_s > 0"
            )
        if overlaps(eval_seeds(self.seed, self.episodes), TEST_SEEDS):
            raise ValueError(
                f"--eval.seed {self.seed} with {self.episodes} episodes reaches the test seeds "
                f"({TEST_SEEDS.start}-{TEST_SEEDS.stop - 1}) kept for the final evaluation; choose a seed in "
                f"{SELECTION_SEEDS.start}-{SELECTION_SEEDS.stop - self.episodes}"
            )


class InLoopEvaluator:
    """Evaluates checkpoints of one run and keeps its history, curve and ``best/``."""

    def __init__(self, run_dir: Path, config: InLoopEvalConfig) -> None:
        self.run_dir = Path(run_dir)
        self.config = config
        self.seeds = eval_seeds(config.seed, config.episodes)
        self.settings = RolloutSettings(
            episode_time_s=config.episode_time_s, device=config.device, render_profile=config.render_profile
        )
        self.history: list[EvalSummary] = self._load_history()
        self._pool: EvalPool | None = None

    @property
    def best(self) -> EvalSummary | None:
        best = None
        for summary in self.history:
            if best is None or summary.success_rate > best.success_rate:
                best = summary
        return best

    def evaluate(self, checkpoint_dir: Path, step: int) -> EvalSummary:
        """Evaluate ``checkpoint_dir`` (``checkpoints/NNNNNN``), record it, refresh the curve and ``best/``."""
        if self._pool is None:
            self._pool = EvalPool(self.config.workers)
        previous_best = self.best
        videos = self.run_dir / "eval" / "videos" / f"step_{step}" if self.config.video else None
        summary, _ = self._pool.evaluate(
            Path(checkpoint_dir) / "pretrained_model", self.seeds, self.settings, self.config.video, videos, step=step
        )
        # A resumed run re-evaluates steps it may already have: the newest evaluation of a step wins.
        self.history = [s for s in self.history if s.step != step] + [summary]
        if previous_best is None or summary.success_rate > previous_best.success_rate:
            self._save_best(Path(checkpoint_dir), summary)
        self._write()
        return summary

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _save_best(self, checkpoint_dir: Path, summary: EvalSummary) -> None:
        publish_best(self.run_dir, checkpoint_dir, {**asdict(summary), "source": str(checkpoint_dir)})

    def _load_history(self) -> list[EvalSummary]:
        path = self.run_dir / HISTORY_NAME
        if not path.is_file():
            return []
        return [summary_from_json(item) for item in json.loads(path.read_text())["evaluations"]]

    def _write(self) -> None:
        history = sorted(self.history, key=lambda s: s.step or 0)
        best = self.best
        payload = {
            "seeds": self.seeds,
            "scene_seeds": seeds_record(self.seeds),
            "best_step": best.step if best else None,
            "evaluations": [asdict(s) for s in history],
        }
        write_atomic(self.run_dir / HISTORY_NAME, json.dumps(payload, indent=2))
        plot_curve(self.run_dir / CURVE_NAME, history)
