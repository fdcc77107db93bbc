"""Statistics from data for the frozen batch norms of an image backbone that starts from random weights.

LeRobot's ACT (0.4.4, ``modeling_act.py``) builds its ResNet with torchvision's ``FrozenBatchNorm2d``: each norm
applies fixed statistics, meant to be those of the ImageNet weights it is loaded with. From random weights they
are the identity (mean 0, variance 1), so the backbone trains with no normalisation at all. Setting every norm's
running mean and variance to those of its own input over a batch of training images, in one forward pass from the
first layer to the last, starts training from a network whose every stage is standardised, as a batch-normalised
ResNet is at initialisation. The statistics are buffers of the state dict: the checkpoint keeps LeRobot's layout
and loads in stock ``ACTPolicy``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def calibrate_frozen_batchnorm(backbone: torch.nn.Module, images: torch.Tensor) -> int:
    """Set each ``FrozenBatchNorm2d`` of ``backbone`` to standardise its input over ``images``; returns how many.

    ``images``: (N, 3, H, W), normalised as the policy feeds them to the backbone. Each norm is set just before it
    runs, so the layers after it see the already standardised output. The norms' affine weight and bias stay 1
    and 0 (they are frozen too).
    """
    import torch
    from torchvision.ops.misc import FrozenBatchNorm2d

    norms = [module for module in backbone.modules() if isinstance(module, FrozenBatchNorm2d)]

    def set_statistics(norm: FrozenBatchNorm2d, inputs: tuple[torch.Tensor, ...]) -> None:
        features = inputs[0].detach().transpose(0, 1).flatten(1)  # (channels, N * H * W)
        norm.running_mean.copy_(features.mean(dim=1))
        norm.running_var.copy_(features.var(dim=1, unbiased=False))

    handles = [norm.register_forward_pre_hook(set_statistics) for norm in norms]
    try:
        with torch.no_grad():
            backbone(images)
    finally:
        for handle in handles:
            handle.remove()
    return len(norms)


def calibrate_act_backbone(policy: torch.nn.Module, batch: dict[str, torch.Tensor]) -> int:
    """Calibrate an ACT policy's backbone on every camera's images of a preprocessed ``batch``; returns the norms set.

    LeRobot's ACT runs one backbone over each camera in turn, so the statistics are those of all cameras together.
    """
    import torch

    images = torch.cat([batch[key] for key in policy.config.image_features])
    return calibrate_frozen_batchnorm(policy.model.backbone, images)
