"""Tests of policies.checkpoint: what a checkpoint needs from the sim, and the compatibility check."""

from __future__ import annotations

import json

import pytest

from policies.act import ActPolicyConfig, act_config
from policies.checkpoint import IncompatibleCheckpointError, check_sim_compatibility, sim_requirements
from so101.command import UsageError

TINY = {"dim_model": 32, "n_heads": 2, "dim_feedforward": 64, "n_encoder_layers": 1, "n_vae_encoder_layers": 1,
        "chunk_size": 10, "n_action_steps": 10, "image_height": 48, "image_width": 64}


def test_incompatible_checkpoints_are_refused_naming_the_mismatch() -> None:
    from lerobot.configs.types import FeatureType, PolicyFeature

    config = act_config(ActPolicyConfig(**TINY, pretrained_backbone=False, device="cpu"), 8, 8, ["overhead_cam"])
    mismatch = r"observation.state has shape \(8,\).*action has shape \(8,\)"
    with pytest.raises(IncompatibleCheckpointError, match=mismatch):
        check_sim_compatibility(config, "ckpt")
    config = act_config(ActPolicyConfig(**TINY, pretrained_backbone=False, device="cpu"), 6, 6, ["overhead_cam"])
    config.input_features["observation.images.laptop"] = PolicyFeature(FeatureType.VISUAL, (3, 48, 64))
    with pytest.raises(IncompatibleCheckpointError, match="camera 'laptop'"):
        check_sim_compatibility(config, "ckpt")
    # A mismatch is the user's to fix: the command layer prints it as one line (exit 2), not a traceback.
    assert issubclass(IncompatibleCheckpointError, UsageError)


def test_requirements_of_stock_lerobot_checkpoints_come_from_their_config(tmp_path) -> None:
    config = act_config(ActPolicyConfig(**TINY, pretrained_backbone=False, device="cpu"), 6, 6, ["overhead_cam"])
    # Without so101.json (stock lerobot-train), images were never resized: render at the configured input size.
    assert sim_requirements(tmp_path, config).cameras == {"overhead_cam": (48, 64)}
    sidecar = {"cameras": {"overhead_cam": [480, 640]}, "render_profile": "quality"}
    (tmp_path / "so101.json").write_text(json.dumps(sidecar))
    requirements = sim_requirements(tmp_path, config)
    assert requirements.cameras == {"overhead_cam": (480, 640)} and requirements.render_profile == "quality"
