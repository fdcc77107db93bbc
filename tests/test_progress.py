"""What a recording session prints: the live status line on a terminal, one line per episode anywhere
(recording/progress.py)."""

from __future__ import annotations

import io
import os
import sys

import pytest

from so101.recording.episode_loop import EpisodeResult, Outcome
from so101.recording.progress import Progress
from so101.sim.simulator import So101Sim


def test_progress_on_the_stdout_of_the_moment_is_live_when_it_is_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as terminal:
            monkeypatch.setattr(sys, "stdout", terminal)
            progress = Progress(2)  # no stream given: sys.stdout now, a terminal
            assert progress.live
            sim = So101Sim()
            progress.step(sim, 10, sim.signals)
            terminal.flush()
        assert os.read(master, 4096).decode().startswith("\repisode 1/2  t   0.3 s")
    finally:
        os.close(master)
        os.close(slave)
    log = io.StringIO()
    monkeypatch.setattr(sys, "stdout", log)
    progress = Progress(2)
    assert not progress.live
    sim = So101Sim()
    progress.step(sim, 10, sim.signals)  # nothing live in a log
    progress.episode(EpisodeResult(Outcome.SAVED, 12, sim.sample_placement(3), sim.signals), 0)
    assert log.getvalue().startswith("episode 1/2: ended by the user (seed 3, 12 frames), saved as episode 0")
