"""Tests of so101.inference.evaluate: the evaluation pool on a small untrained checkpoint, in this process."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from so101.errors import EvalWorkerError
from so101.inference import evaluate
from so101.inference.benchmark import write_untrained_checkpoint
from so101.inference.episode import RolloutSettings
from so101.inference.evaluate import EvalPool
from so101.policies.act import ActPolicyConfig

TINY = ActPolicyConfig(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_vae_encoder_layers=1,
                       chunk_size=10, n_action_steps=10, image_height=48, image_width=64, pretrained_backbone=False,
                       device="cpu")  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_untrained_checkpoint(tmp_path_factory.mktemp("ckpt") / "pretrained_model", TINY, (48, 64))


def test_in_process_pool_runs_episodes_in_seed_order_and_frees_its_renderers(checkpoint: Path) -> None:
    settings = RolloutSettings(episode_time_s=0.2, n_action_steps=2, device="cpu")
    with EvalPool(0) as pool:
        summary, results = pool.evaluate(checkpoint, [7, 3], settings, step=40)
        assert evaluate._SIMS, "the simulator and its renderer are kept between episodes"
    assert not evaluate._SIMS, "closing the pool frees its renderers"
    assert [r.seed for r in results] == [7, 3] and summary.seeds == [7, 3]
    assert [r.steps for r in results] == [6, 6]  # 0.2 s at 30 fps
    assert [r.policy_calls for r in results] == [3, 3]
    assert summary.step == 40 and summary.checkpoint == str(checkpoint) and summary.episodes == 2
    assert summary.max_ms_per_policy_call >= summary.ms_per_policy_call > 0


def test_negative_worker_count_is_refused() -> None:
    with pytest.raises(ValueError, match="workers must be >= 0"):
        EvalPool(-1)


def _kill(pid: int | None) -> None:
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


def test_a_worker_killed_again_and_again_stops_the_evaluation_with_one_clear_line(checkpoint: Path) -> None:
    settings = RolloutSettings(episode_time_s=0.1, device="cpu")
    pool = EvalPool(1)
    killed: list[int | None] = []
    done = threading.Event()

    def kill_every_worker() -> None:
        while not done.is_set() and len(killed) < 3:
            for pid in pool.pids:
                if pid not in killed:
                    killed.append(pid)
                    _kill(pid)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_every_worker)
    killer.start()
    try:
        with pytest.raises(EvalWorkerError) as stopped:
            pool.evaluate(checkpoint, [5, 6], settings)
    finally:
        done.set()
        killer.join()
        pool.close()
    message = str(stopped.value)
    assert "died 2 times" in message and "twice on scene seed 5" in message and "SIGKILL" in message, message
    assert "--workers" in message and "\n" not in message


def test_a_worker_silent_past_the_episode_timeout_is_killed_as_hung(checkpoint: Path, monkeypatch) -> None:
    monkeypatch.setattr(evaluate, "EPISODE_TIMEOUT_S", 0.3)  # shorter than a worker takes to start its episode
    with EvalPool(1) as pool, pytest.raises(EvalWorkerError, match=r"scene seed 9: no answer in 0\.3 s"):
        pool.evaluate(checkpoint, [9], RolloutSettings(episode_time_s=0.1, device="cpu"))
