"""Tests of so101.policies.checkpoint: what a checkpoint needs from the sim, and the compatibility check."""

from __future__ import annotations

import json

import pytest

from so101.errors import So101Error
from so101.policies.act import ActPolicyConfig, act_config
from so101.policies.checkpoint import IncompatibleCheckpointError, check_sim_compatibility, sim_requirements

TINY = {"dim_model": 32, "n_heads": 2, "dim_feedforward": 64, "n_encoder_layers": 1, "n_vae_encoder_layers": 1,
        "chunk_size": 10, "n_action_steps": 10, "image_height": 48, "image_width": 64}


def test_incompatible_checkpoints_are_refused_naming_the_mismatch() -> None:
    from lerobot.configs.types import FeatureType, PolicyFeature

    # 9 values are neither the 6 joints nor an end-effector layout (7, 8 or 10).
    config = act_config(ActPolicyConfig(**TINY, pretrained_backbone=False, device="cpu"), 9, 9, ["overhead_cam"])
    mismatch = r"observation.state has shape \(9,\).*action has shape \(9,\)"
    with pytest.raises(IncompatibleCheckpointError, match=mismatch):
        check_sim_compatibility(config, "ckpt")
    for ee_dim in (7, 8, 10):
        ee = act_config(ActPolicyConfig(**TINY, pretrained_backbone=False, device="cpu"), ee_dim, ee_dim, ["wrist_cam"])
        check_sim_compatibility(ee, "ckpt")
    config = act_config(ActPolicyConfig(**TINY, pretrained_backbone=False, device="cpu"), 6, 6, ["overhead_cam"])
    config.input_features["observation.images.laptop"] = PolicyFeature(FeatureType.VISUAL, (3, 48, 64))
    with pytest.raises(IncompatibleCheckpointError, match="camera 'laptop'"):
        check_sim_compatibility(config, "ckpt")
    # A mismatch is the user's to fix: the command layer prints it as one line (exit 2), not a traceback.
    assert issubclass(IncompatibleCheckpointError, So101Error)


def test_requirements_of_stock_lerobot_checkpoints_come_from_their_config(tmp_path) -> None:
    config = act_config(ActPolicyConfig(**TINY, pretrained_backbone=False, device="cpu"), 6, 6, ["overhead_cam"])
    # Without so101.json (stock lerobot-train), images were never resized: render at the configured input size.
    assert sim_requirements(tmp_path, config).cameras == {"overhead_cam": (48, 64)}
    sidecar = {"cameras": {"overhead_cam": [480, 640]}, "render_profile": "quality"}
    (tmp_path / "so101.json").write_text(json.dumps(sidecar))
    requirements = sim_requirements(tmp_path, config)
    assert requirements.cameras == {"overhead_cam": (480, 640)} and requirements.render_profile == "quality"


def test_the_spaces_of_a_checkpoint_come_from_its_sidecar_its_dataset_or_its_sizes(tmp_path) -> None:
    from so101.kinematics.ee_features import EELayout
    from so101.policies.checkpoint import SimRequirements

    # Our checkpoints record them in so101.json.
    written = SimRequirements(cameras={"wrist_cam": (96, 128)}, action_space="ee", ee_layout=EELayout("6d", "tip"))
    (tmp_path / "so101.json").write_text(json.dumps(written.to_json()))
    config = act_config(ActPolicyConfig(**TINY, pretrained_backbone=False, device="cpu"), 6, 10, ["wrist_cam"])
    read = sim_requirements(tmp_path, config)
    assert (read.action_space, read.state_space, read.ee_layout) == ("ee", "joint", EELayout("6d", "tip"))
    # Stock checkpoints: the names of their training dataset's features...
    stock = tmp_path / "stock"
    dataset = tmp_path / "dataset"
    (dataset / "meta").mkdir(parents=True)
    (stock).mkdir()
    features = {"action": {"names": list(EELayout("quat").names)}, "observation.state": {"names": ["a"] * 6}}
    (dataset / "meta" / "info.json").write_text(json.dumps({"features": features}))
    (stock / "train_config.json").write_text(json.dumps({"dataset": {"root": str(dataset)}}))
    config = act_config(ActPolicyConfig(**TINY, pretrained_backbone=False, device="cpu"), 6, 8, ["wrist_cam"])
    read = sim_requirements(stock, config)
    assert (read.action_space, read.state_space, read.ee_layout) == ("ee", "joint", EELayout("quat"))
    # ... else the sizes: 7 values are LeRobot's rotvec layout, 6 are joints.
    (stock / "train_config.json").unlink()
    config = act_config(ActPolicyConfig(**TINY, pretrained_backbone=False, device="cpu"), 7, 7, ["wrist_cam"])
    read = sim_requirements(stock, config)
    assert (read.action_space, read.state_space, read.ee_layout) == ("ee", "ee", EELayout("rotvec"))
    config = act_config(ActPolicyConfig(**TINY, pretrained_backbone=False, device="cpu"), 6, 6, ["wrist_cam"])
    assert sim_requirements(stock, config).action_space == "joint"


def test_a_checkpoint_loads_its_weights_quietly(tmp_path, capfd) -> None:
    import torch
    from safetensors.torch import load_file

    from so101.inference.benchmark import write_untrained_checkpoint
    from so101.policies.checkpoint import load_policy

    options = ActPolicyConfig(**TINY, pretrained_backbone=False, device="cpu")
    directory = write_untrained_checkpoint(tmp_path / "pretrained_model", options, (96, 128))
    capfd.readouterr()
    loaded = load_policy(directory, device="cpu")
    out = capfd.readouterr()
    assert "Loading weights" not in out.out + out.err  # LeRobot's from_pretrained prints it once per load
    saved = load_file(str(directory / "model.safetensors"))
    weights = loaded.policy.state_dict()
    assert saved and all(torch.equal(weights[key], value) for key, value in saved.items())
    assert not loaded.policy.training
