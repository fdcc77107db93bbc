"""Tests of so101.inference.evaluate_cmd: the ``so101 eval`` command on a small untrained checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from so101.command import parse
from so101.inference.benchmark import write_untrained_checkpoint
from so101.inference.evaluate_cmd import EvalCommandConfig, main
from so101.inference.seeds import SELECTION_SEEDS, TEST_SEEDS, eval_seeds
from so101.policies.act import ActPolicyConfig
from so101.training.in_loop_eval import InLoopEvalConfig

TINY = ActPolicyConfig(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_vae_encoder_layers=1,
                       chunk_size=10, n_action_steps=10, image_height=48, image_width=64, pretrained_backbone=False,
                       device="cpu")  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ckpt") / "run" / "checkpoints" / "000100" / "pretrained_model"
    return write_untrained_checkpoint(root, TINY, (96, 128))


def test_argv_takes_a_positional_path_dashed_flags_and_bare_booleans() -> None:
    cfg = parse(EvalCommandConfig, ["--episodes", "3", "ckpt", "--n-action-steps=5", "--render"], "eval", "path")
    assert cfg.path == Path("ckpt") and cfg.episodes == 3 and cfg.n_action_steps == 5 and cfg.render is True


def test_final_evaluation_seeds_are_disjoint_from_the_selection_seeds() -> None:
    # The final `so101 eval` of best/ must not run on the scenes in-loop evaluation chose best/ on.
    final = set(eval_seeds(EvalCommandConfig(path=Path("x")).seed, 1000))
    selection = set(eval_seeds(InLoopEvalConfig().seed, 1000))
    assert not final & selection
    assert final <= set(TEST_SEEDS) and selection <= set(SELECTION_SEEDS)
    with pytest.raises(ValueError, match="reaches the test seeds"):
        InLoopEvalConfig(seed=TEST_SEEDS.start - 5, episodes=10)


def test_eval_writes_results_table_curve_videos_and_names_the_seeds(checkpoint: Path, tmp_path: Path) -> None:
    run = checkpoint.parents[2]
    out = tmp_path / "eval"
    code = main([str(run), "--episodes=2", "--workers=0", "--episode_time_s=0.4", "--video=1", "--seed=5",
                 f"--output_dir={out}", "--n-action-steps=4"])  # fmt: skip
    assert code == 0
    results = json.loads((out / "eval_results.json").read_text())
    (summary,) = results["evaluations"]
    assert summary["step"] == 100 and summary["seeds"] == [5, 6] and summary["episodes"] == 2
    assert results["scene_seeds"]["set"] == "other" and results["scene_seeds"]["first"] == 5
    episodes = results["episodes"]["000100"]
    assert [e["steps"] for e in episodes] == [12, 12]  # untrained: never succeeds, runs to the time limit
    assert [e["policy_calls"] for e in episodes] == [3, 3]  # 12 steps, 4 actions per call
    assert all(0 < e["policy_max_s"] <= e["policy_s"] for e in episodes)
    assert (out / "videos" / "000100" / "episode_5.mp4").stat().st_size > 0
    assert not (out / "videos" / "000100" / "episode_6.mp4").exists()
    table = (out / "eval_results.md").read_text()
    assert "| 000100 | 100 |" in table
    assert "scene seeds 5-6: neither the selection nor the test seeds" in table
    assert (out / "eval_curve.png").is_file()


def test_eval_defaults_to_the_test_seeds_and_says_so(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    assert main([str(checkpoint), "--episodes=1", "--workers=0", "--episode_time_s=0.1", f"--output_dir={out}"]) == 0
    results = json.loads((out / "eval_results.json").read_text())
    assert results["evaluations"][0]["seeds"] == [TEST_SEEDS.start]
    assert results["scene_seeds"]["set"] == "test"
    assert "test seeds, disjoint from the selection seeds" in (out / "eval_results.md").read_text()


def test_eval_refuses_a_checkpoint_that_does_not_match_the_sim(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(checkpoint, bad)
    config = json.loads((bad / "config.json").read_text())
    config["input_features"]["observation.state"]["shape"] = [8]
    (bad / "config.json").write_text(json.dumps(config))
    assert main([str(bad), "--workers=0"]) == 2
    err = capsys.readouterr().err
    assert "observation.state has shape (8,)" in err and len(err.strip().splitlines()) == 1


def test_bad_paths_and_options_are_one_line_errors(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, message in [
        ([str(checkpoint), "--n_action_steps=11"], "--n_action_steps must be within 1..chunk_size (10), got 11"),
        ([str(tmp_path / "missing")], "does not exist; give a checkpoint folder"),
        ([str(tmp_path)], "is not a checkpoint"),
        ([], "give a checkpoint or a training run"),
        (["x", "--episodes=0"], "--episodes must be at least 1"),
        (["x", "--episods=3"], "did you mean --episodes"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_every_option_has_help_and_a_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for option, default in [("--episodes", "30"), ("--workers", "2"), ("--seed", str(TEST_SEEDS.start)),
                            ("--episode_time_s", "15.0"), ("--render", "False"), ("--output_dir", "None")]:  # fmt: skip
        after = text.rsplit(f"{option} ", 1)[1]  # the last mention: its entry in the options list
        help_text = after.split(" --", 1)[0]
        assert len(help_text.split()) > 4 and f"(default: {default})" in help_text, option


def test_a_worker_killed_in_the_middle_of_an_episode_is_replaced_and_the_evaluation_finishes(
    checkpoint: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    import os
    import signal
    import threading
    import time

    from so101.inference.evaluate import EvalPool

    pools: list[EvalPool] = []
    original_init = EvalPool.__init__

    def remember(self: EvalPool, workers: int) -> None:
        original_init(self, workers)
        pools.append(self)

    monkeypatch.setattr(EvalPool, "__init__", remember)

    def kill_mid_episode() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (pools and pools[0]._pool and pools[0]._pool[0].task is not None):
            time.sleep(0.01)
        time.sleep(0.3)  # the worker is loading the policy, building the scene or running the episode
        os.kill(pools[0].pids[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_mid_episode)
    killer.start()
    out = tmp_path / "eval"
    status = main([str(checkpoint), "--episodes=2", "--workers=1", "--episode_time_s=0.3", f"--output_dir={out}"])
    killer.join()
    assert status == 0
    err = capsys.readouterr().err
    assert f"died during the episode of scene seed {TEST_SEEDS.start} (killed by SIGKILL" in err, err
    results = json.loads((out / "eval_results.json").read_text())
    assert results["evaluations"][0]["episodes"] == 2
