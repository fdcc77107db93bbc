"""``so101 bench ik`` at a tiny size (kinematics/benchmark.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from kinematics.benchmark import main
from sim.paths import ROBOT_XML

MODEL = ROBOT_XML


@pytest.mark.parametrize("with_mink", [False, True])
def test_bench_prints_both_workloads(with_mink: bool, capsys: pytest.CaptureFixture[str]) -> None:
    if with_mink and importlib.util.find_spec("mink") is None:
        pytest.skip("mink is not installed")
    argv = ["--model", str(MODEL), "--targets", "20", "--trajectories", "1", "--trajectory_seconds", "1"]
    assert main([*argv, "--mink", str(with_mink).lower()]) == 0
    out = capsys.readouterr().out
    assert "cold (20 targets)" in out and "tracking (1x30 frames)" in out
    assert "so101 DLS" in out and ("mink" in out.split("model:")[1]) == with_mink
    dls_rows = [line for line in out.splitlines() if "so101 DLS" in line]
    assert all("100.00%" in line for line in dls_rows)


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no SO-101 model"):
        main(["--model", str(tmp_path / "nothing.xml")])
