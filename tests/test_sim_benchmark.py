"""``so101 bench sim`` runs and prints its figures (a tiny run; the figures themselves are not asserted)."""

from __future__ import annotations

import pytest

from sim.benchmark import main


def test_bench_sim_prints_rates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--steps", "5", "--repeats", "1", "--sizes", "[64x48]", "--profiles", "[fast]"]) == 0
    out = capsys.readouterr().out
    assert "physics steps/s" in out
    assert "2 x 64x48" in out
