"""Multi-process training for real: ``accelerate launch`` runs ``so101 train`` in 2 processes on CPU (gloo), and
``so101 eval`` evaluates the checkpoint they saved."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from so101.errors import CommandLineError
from so101.training import processes

TINY_FLAGS = [
    "--policy.dim_model=32", "--policy.n_heads=2", "--policy.dim_feedforward=64", "--policy.n_encoder_layers=1",
    "--policy.n_vae_encoder_layers=1", "--policy.chunk_size=10", "--policy.n_action_steps=10",
    "--policy.image_height=48", "--policy.image_width=64", "--policy.pretrained_backbone=false",
    "--policy.device=cpu", "--batch_size=4", "--num_workers=0", "--log_freq=2",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_train_one_run_that_so101_eval_evaluates(tiny_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    bin_dir = Path(sys.executable).parent
    command = [
        str(bin_dir / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
        "-m", "so101", "train", f"--dataset.root={tiny_dataset}", f"--output_dir={run}",
        f"--cache_dir={tmp_path / 'cache'}", *TINY_FLAGS, "--wandb.mode=offline", "--steps=4", "--save_freq=2",
        "--eval_freq=4", "--eval.episodes=1", "--eval.workers=1", "--eval.episode_time_s=0.5",
    ]  # fmt: skip
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=1200)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "effective batch 4 x 2 process(es) = 8" in output, output[-4000:]
    # One frame-cache build, by the main process; the other opened it.
    assert output.count("frame cache: decoding") == 1 and output.count("frame cache: built") == 1, output[-4000:]
    # One set of checkpoints, one in-loop evaluation (the main process's), one log.
    assert sorted(path.name for path in (run / "checkpoints").iterdir()) == ["000002", "000004", "last"]
    history = json.loads((run / "eval_history.json").read_text())
    assert [evaluation["step"] for evaluation in history["evaluations"]] == [4]
    assert output.count("step 4: success") == 1
    assert len(list((run / "wandb").glob("offline-run-*"))) == 1

    evaluated = subprocess.run(
        [str(bin_dir / "so101"), "eval", str(run / "checkpoints" / "last"), "--episodes=1", "--workers=0",
         "--episode_time_s=0.5"],
        capture_output=True, text=True, env=environment, timeout=600,
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    results = json.loads((run / "checkpoints" / "last" / "eval" / "eval_results.json").read_text())
    assert results["evaluations"][0]["episodes"] == 1


def test_a_cpu_launch_that_started_one_process_is_refused_naming_the_launch_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What `accelerate launch --cpu --num_processes 2` gives the one process it starts.
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(CommandLineError, match="--multi_gpu --num_processes N") as raised:
        processes.make_accelerator("cpu")
    assert "starts one process" in str(raised.value)


def test_processes_on_this_machine_follow_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert processes.processes_on_this_machine() == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert processes.processes_on_this_machine() == 4
