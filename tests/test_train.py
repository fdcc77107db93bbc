"""End-to-end test of ``so101 train``: record scripted episodes, train a tiny ACT with in-loop evaluation, load the
checkpoint with LeRobot's own ``ACTPolicy.from_pretrained``, evaluate it with ``so101 eval``, resume the run."""

from __future__ import annotations

import json

import pytest

from so101.training.train import main, parse_config

TINY_FLAGS = [
    "--policy.dim_model=32", "--policy.n_heads=2", "--policy.dim_feedforward=64", "--policy.n_encoder_layers=1",
    "--policy.n_vae_encoder_layers=1", "--policy.chunk_size=10", "--policy.n_action_steps=10",
    "--policy.image_height=48", "--policy.image_width=64", "--policy.pretrained_backbone=false",
    "--policy.device=cpu", "--batch_size=4", "--num_workers=1", "--wandb.mode=disabled", "--log_freq=8",
]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    from so101.recording.record import main as record

    root = tmp_path_factory.mktemp("recorded") / "pick"
    code = record(["--teleop=scripted", "--episodes=4", "--dataset.repo_id=test/pick", f"--dataset.root={root}",
                   "--cameras.width=128", "--cameras.height=96"])
    assert code == 0
    return root


def test_train_evaluate_load_and_resume(recorded, tmp_path, capsys) -> None:
    import torch
    from lerobot.policies.act.modeling_act import ACTPolicy

    from so101.inference.evaluate_cmd import main as evaluate

    run = tmp_path / "run"
    flags = [f"--dataset.root={recorded}", f"--output_dir={run}", f"--cache_dir={tmp_path / 'cache'}", *TINY_FLAGS]
    code = main([*flags, "--steps=24", "--save_freq=12", "--eval_freq=12", "--eval.episodes=2", "--eval.workers=1",
                 "--eval.episode_time_s=1", "--augment.shift=0.05", "--policy.calibrate_backbone=true"])
    assert code == 0
    for step in ("000012", "000024"):
        pretrained = run / "checkpoints" / step / "pretrained_model"
        for name in ("config.json", "model.safetensors", "train_config.json", "policy_preprocessor.json",
                     "policy_postprocessor.json", "so101.json"):
            assert (pretrained / name).is_file(), name
        assert (run / "checkpoints" / step / "training_state" / "optimizer_state.safetensors").is_file()
    # The augmentation is recorded as LeRobot's image transforms of the run; the policy's own preprocessor, which
    # evaluation and deployment apply, holds no random step.
    last = run / "checkpoints" / "last" / "pretrained_model"
    transforms = json.loads((last / "train_config.json").read_text())["dataset"]["image_transforms"]
    assert transforms["enable"] and transforms["tfs"]["shift"]["kwargs"]["translate"] == [0.05, 0.05]
    steps = [step["registry_name"] for step in json.loads((last / "policy_preprocessor.json").read_text())["steps"]]
    assert not any("affine" in name or "jitter" in name or "transform" in name for name in steps), steps
    history = json.loads((run / "eval_history.json").read_text())
    assert [e["step"] for e in history["evaluations"]] == [12, 24]
    assert history["seeds"] == [100000, 100001]  # the selection seeds; so101 eval defaults to the test seeds
    assert (run / "eval_curve.png").is_file() and (run / "best" / "pretrained_model" / "model.safetensors").is_file()
    assert not (run / ".staging").exists()  # a finished run leaves no empty staging folder
    assert json.loads((run / "best" / "eval.json").read_text())["step"] == history["best_step"]

    # LeRobot's own loader takes the checkpoint as it is.
    policy = ACTPolicy.from_pretrained(run / "checkpoints" / "last" / "pretrained_model")
    batch = {"observation.state": torch.zeros(1, 6), "observation.images.overhead_cam": torch.rand(1, 3, 48, 64),
             "observation.images.wrist_cam": torch.rand(1, 3, 48, 64)}
    assert policy.select_action(batch).shape == (1, 6)
    # From random weights the backbone's frozen norms hold the first batch's statistics, not the identity.
    calibrated = policy.model.backbone.bn1.running_var.clone()
    assert not torch.allclose(calibrated, torch.ones_like(calibrated))

    assert evaluate([str(run / "best"), "--episodes=2", "--workers=0", "--episode_time_s=0.5"]) == 0
    final = json.loads((run / "best" / "eval" / "eval_results.json").read_text())
    assert final["evaluations"][0]["episodes"] == 2
    assert not set(final["evaluations"][0]["seeds"]) & set(history["seeds"])

    # A second run into the same folder is refused, naming the fix.
    assert main([f"--dataset.root={recorded}", f"--output_dir={run}", *TINY_FLAGS]) == 2
    assert "--resume true" in capsys.readouterr().err
    # Resume from the last checkpoint to a longer run: optimizer state and step continue.
    assert main(["--resume", f"--output_dir={run}", "--steps=30", "--eval_freq=0"]) == 0
    state = json.loads((run / "checkpoints" / "000030" / "training_state" / "training_step.json").read_text())
    assert state["step"] == 30
    resumed = ACTPolicy.from_pretrained(run / "checkpoints" / "000030" / "pretrained_model")
    torch.testing.assert_close(resumed.model.backbone.bn1.running_var, calibrated)  # not calibrated again


def test_bad_options_are_reported_with_the_fix(tmp_path, capsys) -> None:
    assert main([]) == 2
    assert "--dataset.root" in capsys.readouterr().err
    for root, problem in [(tmp_path / "missing", "does not exist"), (tmp_path, "has no meta/info.json")]:
        assert main([f"--dataset.root={root}"]) == 2
        err = capsys.readouterr().err
        assert problem in err and "so101 record" in err and len(err.strip().splitlines()) == 1, err
    assert main(["--resume=true", f"--output_dir={tmp_path}"]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert main(["--dataset.root=x", "--policy.chunk_size=10", "--policy.n_action_steps=20"]) == 2
    assert "n_action_steps (20) cannot exceed policy.chunk_size (10)" in capsys.readouterr().err
    assert parse_config(["--dataset.root=x"]).eval.episodes == 30
