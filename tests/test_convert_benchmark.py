"""``so101 bench convert`` runs and prints its figures, targets and machine (kinematics/convert_benchmark.py)."""

from __future__ import annotations

from pathlib import Path

from so101.kinematics.convert_benchmark import main


def test_bench_convert_prints_both_figures(capsys) -> None:
    assert main(["--trajectories=2", "--trajectory_seconds=2", "--repeats=1", "--rotation=quat"]) == 0
    out = capsys.readouterr().out
    assert "120 frames" in out and "quat" in out
    assert "FK " in out and "target >= 20,000" in out and "FK + verification" in out and "target >= 5,000" in out
    assert "0 IK failures per pass" in out and "machine:" in out


def test_bench_convert_on_a_dataset(tiny_dataset: Path, capsys) -> None:
    assert main([f"--dataset_root={tiny_dataset}", "--repeats=1"]) == 0
    assert "160 frames" in capsys.readouterr().out
