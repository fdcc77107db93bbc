"""``so101 bench train`` runs on a tiny dataset and prints the cache size and the data/update split."""

from __future__ import annotations

from pathlib import Path

import pytest

from so101.training.benchmark import main

TINY_ACT = ["--policy.dim_model=32", "--policy.n_heads=2", "--policy.dim_feedforward=64",
            "--policy.n_encoder_layers=1", "--policy.n_vae_encoder_layers=1", "--policy.chunk_size=5",
            "--policy.n_action_steps=5", "--policy.image_height=48", "--policy.image_width=64"]  # fmt: skip


def test_bench_train_prints_cache_and_step_split(
    tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [f"--dataset.root={tiny_dataset}", "--dataset.repo_id=test/so101_scripted", "--steps=2",
            "--warmup_steps=1", "--batch_size=2", "--num_workers=0", f"--cache_dir={tmp_path}", *TINY_ACT]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("machine: ")
    assert "frame cache" in out and "for 6,559 frames" in out
    assert "data" in out and "update" in out and "target: data <= 10%" in out


def test_bench_train_needs_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "--dataset.root" in capsys.readouterr().err
    assert main([f"--dataset.root={tmp_path}"]) == 2
    assert "has no meta/info.json" in capsys.readouterr().err
