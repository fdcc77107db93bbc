"""End-effector policies end to end: a converted dataset trains a tiny ACT with ``so101 train`` (in-loop evaluation
logs the IK failure rate) and with stock ``lerobot-train``; both checkpoints say, or let us infer, their action space
and ``so101 eval`` runs them in the sim through the IK (policies/checkpoint.py, inference/policy_spaces.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from so101.recording.convert_ee import main as convert

TINY_ACT = [
    "--policy.dim_model=32", "--policy.n_heads=2", "--policy.dim_feedforward=64", "--policy.n_encoder_layers=1",
    "--policy.n_vae_encoder_layers=1", "--policy.chunk_size=10", "--policy.n_action_steps=10",
    "--policy.device=cpu", "--batch_size=4", "--num_workers=0",
]


@pytest.fixture(scope="module")
def ee_dataset(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ee_policies") / "ee"
    assert convert([f"--src.root={tiny_dataset}", f"--dst.root={root}", "--dst.repo_id=test/ee", "--state",
                    "--verify=false"]) == 0
    return root


def test_so101_train_evaluates_an_end_effector_policy_in_the_loop(ee_dataset: Path, tmp_path: Path, capsys) -> None:
    # In-loop evaluation runs the checkpoint through the same evaluation pool as `so101 eval` (the next test).
    from so101.training.train import main as train

    run = tmp_path / "run"
    code = train([
        f"--dataset.root={ee_dataset}", "--dataset.repo_id=test/ee", f"--output_dir={run}",
        f"--cache_dir={tmp_path / 'cache'}", *TINY_ACT, "--policy.image_height=48", "--policy.image_width=64",
        "--policy.pretrained_backbone=false", "--wandb.mode=disabled", "--log_freq=4", "--steps=4", "--save_freq=4",
        "--eval_freq=4", "--eval.episodes=1", "--eval.workers=0", "--eval.episode_time_s=0.5",
    ])  # fmt: skip
    assert code == 0
    sidecar = json.loads((run / "checkpoints" / "000004" / "pretrained_model" / "so101.json").read_text())
    assert sidecar["action_space"] == "ee" and sidecar["state_space"] == "ee"
    assert sidecar["ee_layout"]["rotation"] == "rotvec" and sidecar["ee_layout"]["tcp"] == "gripperframe"
    history = json.loads((run / "eval_history.json").read_text())
    assert 0.0 <= history["evaluations"][0]["ik_failure_rate"] <= 1.0  # in-loop evaluation went through the IK
    assert "IK failures" in capsys.readouterr().out


def test_stock_lerobot_train_trains_on_it_and_eval_infers_the_action_space(ee_dataset: Path, tmp_path: Path) -> None:
    from so101.inference.evaluate_cmd import main as evaluate
    from so101.policies.checkpoint import load_config, sim_requirements

    output = tmp_path / "stock"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    command = [
        str(Path(sys.executable).with_name("lerobot-train")), "--dataset.repo_id=test/ee",
        f"--dataset.root={ee_dataset}", "--policy.type=act", "--policy.push_to_hub=false",
        "--policy.pretrained_backbone_weights=null", *TINY_ACT, "--steps=2", "--save_freq=2", "--log_freq=1",
        f"--output_dir={output}", "--wandb.enable=false", "--eval_freq=0",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    pretrained = output / "checkpoints" / "000002" / "pretrained_model"
    assert not (pretrained / "so101.json").exists()
    requirements = sim_requirements(pretrained, load_config(pretrained))
    assert (requirements.action_space, requirements.state_space) == ("ee", "ee")
    assert evaluate([str(pretrained), "--episodes=1", "--workers=0", "--episode_time_s=0.3"]) == 0
    result = json.loads((pretrained.parent / "eval" / "eval_results.json").read_text())
    assert np.isfinite(result["evaluations"][0]["ik_failure_rate"])
    assert next(iter(result["episodes"].values()))[0]["ik_steps"] == 9  # every step's action went through the IK
