"""Tests of so101.inference.ray_eval: ``so101 eval --backend ray`` on a real Ray cluster of this machine (2 CPUs),
against the local pool on the same checkpoint and seeds."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from so101.inference.benchmark import write_untrained_checkpoint
from so101.inference.episode import RolloutSettings
from so101.inference.evaluate_cmd import main
from so101.policies.act import ActPolicyConfig
from so101.ray_cluster import RayOptions

TINY = ActPolicyConfig(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_vae_encoder_layers=1,
                       chunk_size=10, n_action_steps=10, image_height=48, image_width=64, pretrained_backbone=False,
                       device="cpu")  # fmt: skip
TIMING = {"wall_s", "policy_s", "policy_max_s", "video"}
"""Fields of an episode that measure this run's machine, not the episode."""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ckpt") / "run" / "checkpoints" / "000100" / "pretrained_model"
    return write_untrained_checkpoint(root, TINY, (48, 64))


def test_ray_backend_gives_the_local_pools_episodes_reports_and_videos(
    checkpoint: Path, ray_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(checkpoint.parents[2]), "--episodes=3", "--workers=2", "--episode_time_s=0.4", "--seed=5",
            "--video=2", "--n-action-steps=4"]  # fmt: skip
    assert main([*args, f"--output_dir={tmp_path / 'local'}"]) == 0
    assert main([*args, f"--output_dir={tmp_path / 'ray'}", "--backend=ray", f"--ray.address={ray_address}"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("000100: success 0.0%") == 2, printed  # the same progress line from both backends
    local, ray = (json.loads((tmp_path / b / "eval_results.json").read_text()) for b in ("local", "ray"))
    pairs = list(zip(local["episodes"]["000100"], ray["episodes"]["000100"], strict=True))
    assert [a["seed"] for a, _ in pairs] == [5, 6, 7]
    for a, b in pairs:
        assert {k: v for k, v in a.items() if k not in TIMING} == {k: v for k, v in b.items() if k not in TIMING}
    assert local["scene_seeds"] == ray["scene_seeds"]
    for backend in ("local", "ray"):
        assert (tmp_path / backend / "eval_results.md").is_file() and (tmp_path / backend / "eval_curve.png").is_file()
    for seed in (5, 6):  # the same scenes and the same actions: the same frames
        a, b = (iio.imread(tmp_path / side / "videos" / "000100" / f"episode_{seed}.mp4") for side in ("local", "ray"))
        assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).mean() < 1.0
    assert not (tmp_path / "ray" / "videos" / "000100" / "episode_7.mp4").exists()


def test_a_ray_worker_killed_mid_episode_is_reported_with_its_seed_and_the_episode_runs_again(
    checkpoint: Path, ray_address: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import os
    import signal

    from so101.inference.ray_eval import RayEvalPool

    videos = tmp_path / "videos"
    settings = RolloutSettings(episode_time_s=3.0, n_action_steps=2, device="cpu")
    with RayEvalPool(1, RayOptions(address=ray_address)) as pool:
        (pid,) = pool.pids
        started = threading.Event()

        def kill_once_the_episode_writes_its_video() -> None:
            while not started.wait(0.01):
                if (videos / "episode_11.mp4").exists():
                    os.kill(pid, signal.SIGKILL)  # the worker's process, mid-episode
                    started.set()

        killer = threading.Thread(target=kill_once_the_episode_writes_its_video)
        killer.start()
        try:
            with caplog.at_level(logging.WARNING, logger="so101"):
                summary, results = pool.evaluate(checkpoint, [11], settings, video_episodes=1, video_dir=videos)
        finally:
            started.set()
            killer.join()
        assert pool.pids != [pid], "a fresh worker replaced the dead one"
    assert [r.seed for r in results] == [11] and results[0].steps == 90 and summary.episodes == 1
    (warning,) = [r.getMessage() for r in caplog.records if "died" in r.getMessage()]
    assert f"worker {pid} (Ray) died during the episode of scene seed 11" in warning, warning
    assert "running that episode again" in warning


def test_bench_eval_measures_the_local_pool_and_ray_in_one_run(
    ray_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from so101.inference.benchmark import main as bench_main

    argv = ["--backend=ray", f"--ray.address={ray_address}", "--episodes=2", "--workers=2", "--episode_time_s=0.2",
            "--chunk_size=10", "--n_action_steps=10", "--image_height=48", "--image_width=64", "--cameras.width=64",
            "--cameras.height=48"]  # fmt: skip
    assert bench_main(argv) == 0
    out = capsys.readouterr().out
    assert "local pool:" in out and f"Ray ({ray_address}):" in out and out.count("episodes per minute") == 3, out
    (ratio,) = [line for line in out.splitlines() if "Ray / local pool" in line]
    assert float(ratio.split()[4]) > 0
