"""``so101 bench ik`` at a tiny size (kinematics/benchmark.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from so101.kinematics.benchmark import main
from so101.sim.paths import ROBOT_XML

MODEL = ROBOT_XML


@pytest.mark.parametrize("with_mink", [False, True])
def test_bench_prints_both_workloads(with_mink: bool, capsys: pytest.CaptureFixture[str]) -> None:
    if with_mink and importlib.util.find_spec("mink") is None:
        pytest.skip("mink is not installed")
    argv = ["--model", str(MODEL), "--targets", "20", "--trajectories", "1", "--trajectory-seconds", "1"]
    assert main([*argv, "--mink", str(with_mink).lower()]) == 0
    out = capsys.readouterr().out
    assert "cold (20 targets)" in out and "tracking (1x30 frames)" in out
    assert "so101 DLS" in out and ("mink" in out.split("model:")[1]) == with_mink
    dls_rows = [line for line in out.splitlines() if "  so101 DLS  " in line]
    assert len(dls_rows) == 2 and all("100.00%" in line for line in dls_rows)
    assert "targets (so101 DLS): success >= 99.9% in each workload: meets" in out
    assert out.rstrip().splitlines()[-1].startswith("machine: ")


def test_missing_model_and_bad_options_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", str(tmp_path / "nothing.xml")]) == 2
    err = capsys.readouterr().err
    assert "no SO-101 model" in err and "--model" in err and len(err.strip().splitlines()) == 1
    assert main(["--targets", "0"]) == 2
    assert "--targets" in capsys.readouterr().err
