"""``so101 bench sim`` runs and prints its figures and targets (a tiny run; the figures themselves are not asserted)."""

from __future__ import annotations

import pytest

from so101.sim.benchmark import main


def test_bench_sim_prints_the_machine_rates_and_targets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--steps", "5", "--repeats", "1", "--sizes", "[64x48]", "--profiles", "[fast]"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("machine: ") and " cores" in out.splitlines()[0]
    assert "physics steps/s" in out and "target >= 10x: " in out
    row = next(line for line in out.splitlines() if "2 x 64x48" in line)
    assert row.startswith("fast") and row.endswith((">= 1x: met", ">= 1x: BELOW"))


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--sizes", "[64by48]"], "--sizes lists image sizes WxH"), (["--profiles", "[ultra]"], "--profiles lists")],
)
def test_bad_options_are_one_line(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
