"""Tests of so101.policies.act: construction from a dataset, resize in the processor, offline backbone."""

from __future__ import annotations

import logging

import pytest

from so101.errors import So101Error
from so101.policies.act import (
    ActPolicyConfig,
    act_config,
    backbone_weights_on_disk,
    make_act_config,
    make_processors,
    select_cameras,
)

TINY = {"dim_model": 32, "n_heads": 2, "dim_feedforward": 64, "n_encoder_layers": 1, "n_vae_encoder_layers": 1,
        "chunk_size": 10, "n_action_steps": 10, "image_height": 48, "image_width": 64}


def _meta(root):
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

    return LeRobotDatasetMetadata("test/so101_scripted", root=root)


def test_missing_imagenet_weights_warn_and_train_from_scratch(tiny_dataset, tmp_path, monkeypatch, caplog) -> None:
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert backbone_weights_on_disk("resnet18") is None
    with caplog.at_level(logging.WARNING, logger="so101.policies.act"):
        config = make_act_config(ActPolicyConfig(**TINY), _meta(tiny_dataset), ["wrist_cam"])
    # One warning of one line (the command layer shows it as is on stderr; see tests/test_command.py).
    (record,) = [r for r in caplog.records if r.name == "so101.policies.act"]
    (line,) = record.getMessage().splitlines()
    assert record.levelno == logging.WARNING
    assert line.startswith("warning: ImageNet weights for resnet18 are not in the torch hub cache")
    assert "torchvision.models.resnet18" in line
    assert config.pretrained_backbone_weights is None
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "resnet18-f37072fd.pth").write_bytes(b"")
    assert backbone_weights_on_disk("resnet18") == "ResNet18_Weights.IMAGENET1K_V1"


def test_config_uses_training_resolution_and_selected_cameras(tiny_dataset) -> None:
    meta = _meta(tiny_dataset)
    cameras = select_cameras(meta, ["wrist_cam"])
    assert cameras == {"wrist_cam": (96, 128)}
    config = make_act_config(ActPolicyConfig(**TINY, pretrained_backbone=False), meta, list(cameras))
    assert set(config.image_features) == {"observation.images.wrist_cam"}
    assert tuple(config.image_features["observation.images.wrist_cam"].shape) == (3, 48, 64)
    with pytest.raises(So101Error, match="front_cam"):
        select_cameras(meta, ["front_cam"])


def test_preprocessor_resizes_camera_images_to_training_resolution() -> None:
    import torch

    config = act_config(ActPolicyConfig(**TINY, pretrained_backbone=False, device="cpu"), 6, 6, ["overhead_cam"])
    unit = {"mean": torch.zeros(6), "std": torch.ones(6)}
    stats = {"observation.state": unit, "action": unit,
             "observation.images.overhead_cam": {"mean": torch.zeros(3, 1, 1), "std": torch.ones(3, 1, 1)}}
    preprocessor, _ = make_processors(config, stats)
    out = preprocessor({"observation.state": torch.zeros(6), "observation.images.overhead_cam": torch.rand(3, 96, 128)})
    assert out["observation.images.overhead_cam"].shape == (1, 3, 48, 64)
