"""Start ACT's image backbone from a file of ``so101 pretrain-encoder``, and optionally keep it fixed.

The file holds a torchvision ResNet's layers up to ``layer4`` under the names of LeRobot ACT's backbone (0.4.4,
``modeling_act.py``: an ``IntermediateLayerGetter`` over the ResNet), batch-norm statistics included, which ACT's
``FrozenBatchNorm2d`` layers apply as they apply ImageNet's. The policy's checkpoint then holds the weights like any
other: it loads in stock ``ACTPolicy`` with no trace of this file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from so101.errors import ConfigError

if TYPE_CHECKING:
    import torch


def load_backbone_weights(policy: torch.nn.Module, path: str | Path, image_size: tuple[int, int]) -> int:
    """Copy the backbone weights of ``path`` into ``policy.model.backbone``; returns how many tensors.

    Refuses, naming the difference, a file made for another backbone or image size (the encoder learned where
    things are at the size it was trained on) or one whose tensors do not match.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ConfigError("policy.backbone_weights", str(path), "is not a file; make one with so101 pretrain-encoder")
    with safe_open(str(path), framework="pt") as file:
        metadata = file.metadata() or {}
        weights = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118 (safe_open has no iteration)
    expected_size = f"{image_size[0]}x{image_size[1]}"
    if metadata.get("image_size") not in (None, expected_size):
        raise ConfigError("policy.backbone_weights", str(path),
                          f"was pretrained at {metadata['image_size']} but the policy sees {expected_size}; pretrain "
                          f"with --image_height {image_size[0]} --image_width {image_size[1]}")
    backbone = policy.model.backbone
    own = backbone.state_dict()
    missing = sorted(set(own) - set(weights))
    wrong = sorted(name for name in set(own) & set(weights) if own[name].shape != weights[name].shape)
    if missing or wrong:
        raise ConfigError("policy.backbone_weights", str(path),
                          f"does not fit the policy's {policy.config.vision_backbone} backbone (missing "
                          f"{missing[:3]}, wrong shape {wrong[:3]}); pretrain with --vision_backbone "
                          f"{policy.config.vision_backbone}")
    backbone.load_state_dict({name: weights[name] for name in own})
    return len(own)


def freeze_backbone(policy: torch.nn.Module) -> int:
    """Stop the backbone's weights from training (ACT's optimiser groups skip parameters without gradients, and no
    gradient flows back through it); returns how many parameters are frozen."""
    frozen = 0
    for parameter in policy.model.backbone.parameters():
        parameter.requires_grad_(False)
        frozen += parameter.numel()
    return frozen


def start_backbone(
    policy: torch.nn.Module,
    weights: str | None,
    freeze: bool,
    image_size: tuple[int, int],
    load: bool = True,
    log: Callable[[str], object] = lambda _line: None,
) -> None:
    """Load ``weights`` into the backbone (when given and ``load``: a resumed run has them in its checkpoint already)
    and freeze it when asked, saying so through ``log``."""
    if weights and load:
        tensors = load_backbone_weights(policy, weights, image_size)
        log(f"backbone from {weights} ({tensors} tensors)")
    if freeze:
        log(f"backbone frozen: {freeze_backbone(policy) / 1e6:.1f} M parameters not trained")
