"""Image augmentation of training samples: LeRobot's own image transforms, applied to training frames only.

A policy trained on a few hundred scripted demonstrations sees every brick position a handful of times; small
random shifts of the whole image (DrQ's random shift, here torchvision's ``RandomAffine`` translation) and colour
jitter keep it from memorising pixels. The transforms are LeRobot's (``lerobot.datasets.transforms``), configured
as ``lerobot-train --dataset.image_transforms.*`` would be, so every checkpoint's ``train_config.json`` records
them under ``dataset.image_transforms``. Evaluation and deployment never apply them: they live in the training
data path (``so101.training.cached_dataset``), not in the policy's preprocessor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from so101.errors import ConfigError


@dataclass
class AugmentOptions:
    """Image augmentation in training (``--augment.*``); off by default."""

    shift: float = 0.0
    """Largest random translation of each training image, as a fraction of its width and height (0.05: up to 6
    pixels of a 128-pixel-wide image); 0 turns it off. Applied to every sample."""
    color: bool = False
    """Random brightness (0.8-1.2), contrast (0.8-1.2), saturation (0.5-1.5) and hue (+-0.05) on every sample, the
    ranges of ``lerobot-train``'s defaults."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.shift <= 0.25:
            raise ConfigError("augment.shift", self.shift, "must be in 0..0.25 (a fraction of the image size)")

    @property
    def enabled(self) -> bool:
        return self.shift > 0 or self.color

    def lerobot_config(self) -> Any:
        """LeRobot's ``ImageTransformsConfig`` with exactly these transforms, each applied to every sample."""
        from lerobot.datasets.transforms import ImageTransformConfig, ImageTransformsConfig

        tfs: dict[str, ImageTransformConfig] = {}
        if self.color:
            ranges = {"brightness": (0.8, 1.2), "contrast": (0.8, 1.2), "saturation": (0.5, 1.5), "hue": (-0.05, 0.05)}
            for name, value in ranges.items():
                tfs[name] = ImageTransformConfig(weight=1.0, type="ColorJitter", kwargs={name: value})
        if self.shift > 0:
            tfs["shift"] = ImageTransformConfig(
                weight=1.0, type="RandomAffine", kwargs={"degrees": 0.0, "translate": (self.shift, self.shift)}
            )
        # max_num_transforms = all of them: RandomSubsetApply then applies every one, in torchvision's order.
        return ImageTransformsConfig(enable=self.enabled, max_num_transforms=max(len(tfs), 1), tfs=tfs)


def make_image_transform(options: AugmentOptions) -> Any:
    """The transform for (3, H, W) uint8 tensors, or None when augmentation is off."""
    if not options.enabled:
        return None
    from lerobot.datasets.transforms import ImageTransforms

    return ImageTransforms(options.lerobot_config())
