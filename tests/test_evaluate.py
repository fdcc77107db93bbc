"""Tests of inference.evaluate: the ``so101 eval`` command on a small untrained checkpoint."""

from __future__ import annotations

import json

import pytest

from inference.benchmark import write_untrained_checkpoint
from inference.evaluate import _normalise_argv, find_checkpoints, main
from policies.act import ActPolicyConfig

TINY = ActPolicyConfig(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_vae_encoder_layers=1,
                       chunk_size=10, n_action_steps=10, image_height=48, image_width=64, pretrained_backbone=False,
                       device="cpu")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt") / "run" / "checkpoints" / "000100" / "pretrained_model"
    return write_untrained_checkpoint(root, TINY, (96, 128))


def test_argv_takes_a_positional_path_and_dashed_flags() -> None:
    path, rest = _normalise_argv(["--episodes", "3", "ckpt", "--n-action-steps=5", "--render"])
    assert path == "ckpt"
    assert rest == ["--episodes", "3", "--n_action_steps=5", "--render=true"]


def test_eval_writes_results_table_curve_and_videos(checkpoint, tmp_path) -> None:
    run = checkpoint.parents[2]
    assert find_checkpoints(run) == [checkpoint]
    out = tmp_path / "eval"
    code = main([str(run), "--episodes=2", "--workers=0", "--episode_length=12", "--video=1", "--seed=5",
                 f"--output_dir={out}", "--n-action-steps=4"])
    assert code == 0
    results = json.loads((out / "eval_results.json").read_text())
    (summary,) = results["evaluations"]
    assert summary["step"] == 100 and summary["seeds"] == [5, 6] and summary["episodes"] == 2
    episodes = results["episodes"]["000100"]
    assert [e["steps"] for e in episodes] == [12, 12]  # untrained: never succeeds, runs to the time limit
    assert [e["policy_calls"] for e in episodes] == [3, 3]  # 12 steps, 4 actions per call
    assert (out / "videos" / "000100" / "episode_5.mp4").stat().st_size > 0
    assert not (out / "videos" / "000100" / "episode_6.mp4").exists()
    assert "| 000100 | 100 |" in (out / "eval_results.md").read_text()
    assert (out / "eval_curve.png").is_file()


def test_eval_refuses_a_checkpoint_that_does_not_match_the_sim(checkpoint, tmp_path, capsys) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(checkpoint, bad)
    config = json.loads((bad / "config.json").read_text())
    config["input_features"]["observation.state"]["shape"] = [8]
    (bad / "config.json").write_text(json.dumps(config))
    assert main([str(bad), "--workers=0"]) == 2
    assert "observation.state has shape (8,)" in capsys.readouterr().err
