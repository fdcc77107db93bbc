"""Tests of so101.policies.backbone_calibration: standardised stages, LeRobot's layout kept."""

from __future__ import annotations

from so101.policies.act import ActPolicyConfig, act_config
from so101.policies.backbone_calibration import calibrate_act_backbone, calibrate_frozen_batchnorm

TINY = {"dim_model": 32, "n_heads": 2, "dim_feedforward": 64, "n_encoder_layers": 1, "n_vae_encoder_layers": 1,
        "chunk_size": 10, "n_action_steps": 10, "image_height": 48, "image_width": 64}


def _norm_outputs(backbone, images) -> list:
    """The output of every frozen batch norm of ``backbone`` over ``images``, in forward order."""
    import torch
    from torchvision.ops.misc import FrozenBatchNorm2d

    outputs = []
    handles = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out.clone()))  # before ReLU works in place
               for m in backbone.modules() if isinstance(m, FrozenBatchNorm2d)]
    with torch.no_grad():
        backbone(images)
    for handle in handles:
        handle.remove()
    return outputs


def test_every_norm_standardises_its_input_over_the_batch() -> None:
    import torch
    import torchvision
    from torchvision.ops.misc import FrozenBatchNorm2d

    torch.manual_seed(0)
    backbone = torchvision.models.resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
    # Camera-like inputs: a bright, low-contrast table, not unit Gaussians.
    images = 0.8 + 0.1 * torch.rand(6, 3, 48, 64)
    before = _norm_outputs(backbone, images)
    assert calibrate_frozen_batchnorm(backbone, images) == 20  # ResNet-18's norms
    after = _norm_outputs(backbone, images)
    for output in after:
        channels = output.transpose(0, 1).flatten(1)
        assert channels.mean(dim=1).abs().max() < 1e-3
        assert (channels.std(dim=1, unbiased=False) - 1).abs().max() < 0.05  # the norm adds eps = 1e-5 to the variance
    # Identity statistics leave the first stages far from standardised on such inputs.
    assert before[0].transpose(0, 1).flatten(1).std(dim=1).mean() < 0.5


def test_calibrated_statistics_travel_in_lerobot_checkpoint(tmp_path) -> None:
    import torch
    from lerobot.policies.act.modeling_act import ACTPolicy

    config = act_config(ActPolicyConfig(**TINY, pretrained_backbone=False, device="cpu"), 6, 6,
                        ["overhead_cam", "wrist_cam"])
    policy = ACTPolicy(config)
    batch = {f"observation.images.{name}": torch.randn(4, 3, 48, 64) + 2.0 for name in ("overhead_cam", "wrist_cam")}
    assert calibrate_act_backbone(policy, batch) == 20
    buffers = dict(policy.model.backbone.named_buffers())
    # Both cameras' eight images: the stem's input has mean ~2 in every channel, so its norm's mean is far from 0.
    assert buffers["bn1.running_mean"].abs().mean() > 0.1
    policy.save_pretrained(tmp_path)
    loaded = ACTPolicy.from_pretrained(tmp_path)
    for name, value in loaded.model.backbone.named_buffers():
        torch.testing.assert_close(value, buffers[name])
