"""Tests of so101.training.cached_dataset: samples are what LeRobotDataset gives ACT, images as uint8."""

from __future__ import annotations

import torch

from so101.training.cached_dataset import CachedActDataset, to_policy_batch
from so101.training.frame_cache import load_or_build


def test_samples_match_lerobot_dataset_with_action_chunks(tiny_dataset, tmp_path) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

    meta = LeRobotDatasetMetadata("test/so101_scripted", root=tiny_dataset)
    cache = load_or_build(meta, ["overhead_cam", "wrist_cam"], 96, 128, tmp_path, log=lambda _m: None)
    chunk = 10
    ours = CachedActDataset(meta, cache, chunk)
    reference = LeRobotDataset(
        "test/so101_scripted", root=tiny_dataset, delta_timestamps={"action": [i / meta.fps for i in range(chunk)]}
    )
    last_of_first_episode = meta.episodes[0]["dataset_to_index"] - 1
    for index in (0, last_of_first_episode - 3, last_of_first_episode, last_of_first_episode + 1):
        sample, expected = ours[index], reference[index]
        torch.testing.assert_close(sample["observation.state"], expected["observation.state"])
        torch.testing.assert_close(sample["action"], expected["action"])
        assert torch.equal(sample["action_is_pad"], expected["action_is_pad"])
        image = sample["observation.images.overhead_cam"]
        assert image.dtype == torch.uint8
        expected_image = expected["observation.images.overhead_cam"]
        torch.testing.assert_close(image.float() / 255, expected_image, atol=1 / 255, rtol=0)
    assert ours[last_of_first_episode]["action_is_pad"][1:].all()  # chunks never cross into the next episode


def test_to_policy_batch_turns_images_into_unit_floats() -> None:
    batch = {"observation.images.a": torch.full((1, 3, 2, 2), 255, dtype=torch.uint8), "action": torch.ones(1, 6)}
    out = to_policy_batch(batch, "cpu")
    assert out["observation.images.a"].dtype == torch.float32 and out["observation.images.a"].max() == 1.0
    assert torch.equal(out["action"], batch["action"])
