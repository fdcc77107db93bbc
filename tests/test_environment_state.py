"""Tests of so101.sim.environment_state: the objects' poses recorded as ``observation.environment_state``, a privileged
ACT trained on them without images, and evaluated in the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from so101.sim.environment_state import ENVIRONMENT_STATE_KEY, ENVIRONMENT_STATE_NAMES, environment_state
from so101.sim.simulator import So101Sim

PRIVILEGED_FLAGS = [
    "--policy.use_images=false", "--policy.environment_state=true", "--policy.dim_model=32", "--policy.n_heads=2",
    "--policy.dim_feedforward=64", "--policy.n_encoder_layers=1", "--policy.n_vae_encoder_layers=1",
    "--policy.chunk_size=10", "--policy.n_action_steps=5", "--policy.device=cpu", "--batch_size=8",
    "--num_workers=0", "--wandb.mode=disabled", "--log_freq=5",
]


def test_values_are_the_scene_poses() -> None:
    sim = So101Sim()
    sim.reset(3)
    placement = sim.placement
    state = environment_state(sim)
    assert state.shape == (len(ENVIRONMENT_STATE_NAMES),) and state.dtype == np.float32
    assert np.allclose(state[:3], placement.brick_pos, atol=2e-3)
    quat = placement.brick_quat * np.sign(placement.brick_quat[0] or 1.0)
    assert np.allclose(state[3:7], quat, atol=1e-3) and state[3] >= 0
    assert np.allclose(state[7:9], placement.bowl_pos[:2], atol=1e-6)


@pytest.fixture(scope="module")
def privileged_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from so101.recording.record import main as record

    root = tmp_path_factory.mktemp("privileged") / "data"
    assert record(["--teleop=scripted", "--episodes=2", "--dataset.repo_id=test/privileged", f"--dataset.root={root}",
                   "--cameras.width=64", "--cameras.height=48", "--environment_state=true", "--episode_time_s=2",
                   "--keep_failed=true"]) == 0
    return root


def test_recorded_validated_and_resumed(privileged_dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from so101.cli import main as so101_main
    from so101.recording.dataset_tools import validate

    info = json.loads((privileged_dataset / "meta" / "info.json").read_text())
    assert info["features"][ENVIRONMENT_STATE_KEY]["names"] == ENVIRONMENT_STATE_NAMES
    frame = LeRobotDataset("test/privileged", root=privileged_dataset)[0]
    assert frame[ENVIRONMENT_STATE_KEY].shape == (len(ENVIRONMENT_STATE_NAMES),)
    assert validate(privileged_dataset) == []
    assert so101_main(["dataset", "validate", "--dataset.root", str(privileged_dataset)]) == 0
    assert "OK" in capsys.readouterr().out


def test_privileged_policy_trains_without_images_and_evaluates(privileged_dataset: Path, tmp_path: Path) -> None:
    from so101.inference.evaluate_cmd import main as evaluate
    from so101.inference.policy_runner import PolicyRunner
    from so101.training.train import main as train

    run = tmp_path / "run"
    assert train([f"--dataset.root={privileged_dataset}", f"--output_dir={run}", "--steps=10", "--eval_freq=0",
                  *PRIVILEGED_FLAGS]) == 0
    pretrained = run / "checkpoints" / "last" / "pretrained_model"
    sidecar = json.loads((pretrained / "so101.json").read_text())
    assert sidecar["environment_state"] is True and sidecar["cameras"] == {}
    config = json.loads((pretrained / "config.json").read_text())
    assert set(config["input_features"]) == {"observation.state", ENVIRONMENT_STATE_KEY}
    assert evaluate([str(pretrained), "--episodes=1", "--workers=0", "--episode_time_s=0.3",
                     f"--output_dir={tmp_path / 'eval'}"]) == 0
    result = json.loads((tmp_path / "eval" / "eval_results.json").read_text())
    assert result["evaluations"][0]["episodes"] == 1
    # Without the simulator's poses (a real arm), the runner refuses, naming why.
    runner = PolicyRunner.from_checkpoint(pretrained, device="cpu")
    assert runner.observes_environment_state and runner.cameras == []
    with pytest.raises(ValueError, match="only the simulator knows"):
        runner.act(np.zeros(6), {})


def test_privileged_training_needs_the_feature(tiny_dataset: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from so101.training.train import main as train

    assert train([f"--dataset.root={tiny_dataset}", f"--output_dir={tmp_path / 'run'}", "--steps=2",
                  *PRIVILEGED_FLAGS]) == 2
    assert "so101 record --environment_state true" in capsys.readouterr().err
