"""Tests of so101.training.augmentation: LeRobot's image transforms on training frames, recorded in the checkpoint,
never applied by the policy's own preprocessor."""

from __future__ import annotations

import pytest
import torch

from so101.training.augmentation import AugmentOptions, make_image_transform


def test_off_by_default_and_no_transform() -> None:
    options = AugmentOptions()
    assert not options.enabled and make_image_transform(options) is None
    assert options.lerobot_config().enable is False


def test_shift_moves_the_image_and_keeps_its_shape_and_type() -> None:
    transform = make_image_transform(AugmentOptions(shift=0.1))
    image = torch.zeros(3, 48, 64, dtype=torch.uint8)
    image[:, 20:28, 28:36] = 255
    torch.manual_seed(0)
    shifted = [transform(image) for _ in range(8)]
    assert all(s.shape == image.shape and s.dtype == torch.uint8 for s in shifted)
    assert any(not torch.equal(s, image) for s in shifted), "a shift of up to 10% moves an 8-pixel square"
    # Translation only: the bright square keeps its area (up to interpolation at its edges).
    assert all(abs(int((s[0] > 127).sum()) - 64) <= 16 for s in shifted)


def test_every_configured_transform_is_applied_to_every_sample() -> None:
    config = AugmentOptions(shift=0.05, color=True).lerobot_config()
    assert config.enable and config.max_num_transforms == len(config.tfs) == 5
    assert config.tfs["shift"].type == "RandomAffine"
    assert config.tfs["shift"].kwargs["translate"] == (0.05, 0.05)


def test_bad_shift_is_refused() -> None:
    with pytest.raises(ValueError, match=r"augment\.shift"):
        AugmentOptions(shift=0.5)
