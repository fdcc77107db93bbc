"""What a recording session prints: a live status line per step on a terminal, one line per episode."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

from so101.recording.episode_loop import EpisodeResult, Outcome

if TYPE_CHECKING:
    from so101.sim.simulator import So101Sim
    from so101.sim.task_signals import TaskSignals


_OUTCOME_TEXT = {
    Outcome.SUCCESS: "success",
    Outcome.TIMEOUT: "timed out",
    Outcome.SAVED: "ended by the user",
    Outcome.RERECORD: "to be recorded again",
    Outcome.STOPPED: "stopped",
}


class Progress:
    """Episode k of N, the elapsed time and the success so far; ``episode`` prints one line per episode end."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        # Looked up now, not at import: sys.stdout may have been replaced since (pytest's capture, a redirect).
        self.stream = stream if stream is not None else sys.stdout
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.saved = 0
        self.successes = 0
        self.attempts = 0

    def elapsed(self) -> str:
        seconds = int(time.perf_counter() - self.start)
        return f"{seconds // 60}:{seconds % 60:02d}"

    def _rate(self) -> str:
        if not self.attempts:
            return "success -"
        return f"success {self.successes}/{self.attempts} ({100.0 * self.successes / self.attempts:.0f}%)"

    def step(self, sim: So101Sim, frames: int, _signals: TaskSignals) -> None:
        if self.live and frames % 10 == 0:
            t = frames / sim.fps
            self.stream.write(
                f"\repisode {self.saved + 1}/{self.total}  t {t:5.1f} s  elapsed {self.elapsed()}  {self._rate()}   "
            )
            self.stream.flush()

    def episode(self, result: EpisodeResult, index: int | None, shard: int | None = None) -> None:
        """Report an episode's end; ``index`` is its episode index in the dataset (in shard dataset ``shard`` of a
        recording on Ray workers) when it was saved."""
        if result.outcome not in (Outcome.RERECORD, Outcome.STOPPED):
            self.attempts += 1
            self.successes += result.outcome is Outcome.SUCCESS
        kept = index is not None
        self.saved += kept
        in_shard = f" of shard {shard}" if shard is not None else ""
        where = f"saved as episode {index}{in_shard}" if kept else "discarded"
        line = (
            f"episode {self.saved if kept else self.saved + 1}/{self.total}: {_OUTCOME_TEXT[result.outcome]} "
            f"(seed {result.placement.seed}, {result.frames} frames), {where}; elapsed {self.elapsed()}, {self._rate()}"
        )
        if result.late_ticks:
            line += f"; {result.late_ticks} late control tick(s)"
        self.stream.write(("\r" if self.live else "") + line + ("   \n" if self.live else "\n"))
        self.stream.flush()
