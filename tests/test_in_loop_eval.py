"""Tests of so101.training.in_loop_eval: history, curve and best/ follow the success rate."""

from __future__ import annotations

import json

import pytest

from so101.inference.report import EvalEpisode, summarize
from so101.training.in_loop_eval import InLoopEvalConfig, InLoopEvaluator


class _FakePool:
    """Returns a preset success count per checkpoint instead of running the simulator."""

    def __init__(self, successes: dict[str, int]) -> None:
        self.successes = successes
        self.seeds_seen: list[list[int]] = []

    def evaluate(self, checkpoint, seeds, settings, video_episodes=0, video_dir=None, step=None):
        self.seeds_seen.append(list(seeds))
        wins = self.successes[checkpoint.parent.name]
        results = [EvalEpisode(s, i < wins, True, True, i < wins, 100, 1.0, 1, 0.1) for i, s in enumerate(seeds)]
        return summarize(results, 30, 1.0, step=step, checkpoint=str(checkpoint)), results

    def close(self) -> None:
        pass


def _checkpoint(run, name: str):
    path = run / "checkpoints" / name / "pretrained_model"
    path.mkdir(parents=True)
    (path / "model.safetensors").write_text(name)
    return path.parent


def test_best_follows_strict_improvements_on_the_same_seeds(tmp_path) -> None:
    evaluator = InLoopEvaluator(tmp_path, InLoopEvalConfig(episodes=4, workers=0, seed=7))
    pool = _FakePool({"000010": 1, "000020": 3, "000030": 3, "000040": 2})
    evaluator._pool = pool
    for step in (10, 20, 30, 40):
        evaluator.evaluate(_checkpoint(tmp_path, f"{step:06d}"), step)
    assert all(seeds == [7, 8, 9, 10] for seeds in pool.seeds_seen)
    best = json.loads((tmp_path / "best" / "eval.json").read_text())
    assert best["step"] == 20  # 30 ties at 75%: the earlier checkpoint stays
    assert (tmp_path / "best" / "pretrained_model" / "model.safetensors").read_text() == "000020"
    history = json.loads((tmp_path / "eval_history.json").read_text())
    assert [e["step"] for e in history["evaluations"]] == [10, 20, 30, 40]
    assert history["best_step"] == 20
    assert history["scene_seeds"]["first"] == 7 and history["scene_seeds"]["count"] == 4
    assert (tmp_path / "eval_curve.png").is_file()
    # A resumed run reads the history back.
    assert InLoopEvaluator(tmp_path, InLoopEvalConfig(episodes=4, workers=0, seed=7)).best.step == 20


def test_selection_happens_on_the_selection_seeds_never_on_the_test_seeds(tmp_path) -> None:
    from so101.inference.seeds import SELECTION_SEEDS, TEST_SEEDS

    evaluator = InLoopEvaluator(tmp_path, InLoopEvalConfig(episodes=3, workers=0))
    assert evaluator.seeds == [SELECTION_SEEDS.start + i for i in range(3)]
    with pytest.raises(ValueError, match="reaches the test seeds"):
        InLoopEvalConfig(seed=TEST_SEEDS.start)


def test_a_worker_killed_during_an_in_loop_evaluation_is_reported_and_replaced(tmp_path, caplog) -> None:
    import os
    import signal

    from so101.inference.benchmark import write_untrained_checkpoint
    from so101.inference.evaluate import EvalPool
    from so101.policies.act import ActPolicyConfig

    tiny = ActPolicyConfig(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_vae_encoder_layers=1,
                           chunk_size=10, n_action_steps=10, image_height=48, image_width=64,
                           pretrained_backbone=False, device="cpu")  # fmt: skip
    checkpoint = tmp_path / "checkpoints" / "000010"
    write_untrained_checkpoint(checkpoint / "pretrained_model", tiny, (48, 64))
    evaluator = InLoopEvaluator(tmp_path, InLoopEvalConfig(episodes=2, workers=1, episode_time_s=0.1))
    evaluator._pool = EvalPool(1)
    os.kill(evaluator._pool.pids[0], signal.SIGKILL)  # as the OOM killer would, before its first episode
    try:
        summary = evaluator.evaluate(checkpoint, 10)
    finally:
        evaluator.close()
    assert summary.episodes == 2 and summary.seeds == evaluator.seeds
    # A library logs the warning; a command's console handler shows it on stderr.
    assert f"during the episode of scene seed {evaluator.seeds[0]} (killed by SIGKILL" in caplog.text, caplog.text
    assert json.loads((tmp_path / "eval_history.json").read_text())["evaluations"][0]["episodes"] == 2
