"""Tests of so101.training.frame_cache: frames equal LeRobot's decoding, reuse, rebuild on change."""

from __future__ import annotations

import numpy as np

from so101.training.frame_cache import bytes_per_frame, load_or_build, resize_frames


def _meta(root):
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

    return LeRobotDatasetMetadata("test/so101_scripted", root=root)


def test_cached_frames_equal_lerobot_decoded_frames(tiny_dataset, tmp_path) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    meta = _meta(tiny_dataset)
    cache = load_or_build(meta, ["overhead_cam", "wrist_cam"], 96, 128, tmp_path, log=lambda _m: None)
    dataset = LeRobotDataset("test/so101_scripted", root=tiny_dataset)
    frames = cache.open("wrist_cam")
    assert frames.shape == (meta.total_frames, 3, 96, 128) and frames.dtype == np.uint8
    for index in (0, 39, meta.total_frames - 1):
        expected = (dataset[index]["observation.images.wrist_cam"] * 255).round().to(dtype=__import__("torch").uint8)
        np.testing.assert_array_equal(frames[index], expected.numpy())
    assert cache.nbytes == meta.total_frames * bytes_per_frame(2, 96, 128)


def test_cache_is_reused_then_rebuilt_when_the_dataset_changes(tiny_dataset, tmp_path) -> None:
    meta = _meta(tiny_dataset)
    messages: list[str] = []
    cache = load_or_build(meta, ["overhead_cam"], 48, 64, tmp_path, log=messages.append)
    built = cache.path("overhead_cam").stat().st_mtime_ns
    load_or_build(meta, ["overhead_cam"], 48, 64, tmp_path, log=messages.append)
    assert cache.path("overhead_cam").stat().st_mtime_ns == built
    assert "reusing" in messages[-1]
    info = tiny_dataset / "meta" / "info.json"
    original = info.read_text()
    try:
        info.write_text(original + " ")  # any change of the dataset's metadata invalidates the cache
        load_or_build(_meta(tiny_dataset), ["overhead_cam"], 48, 64, tmp_path, log=messages.append)
    finally:
        info.write_text(original)
    assert any("stale" in m for m in messages)
    other = load_or_build(meta, ["overhead_cam"], 24, 32, tmp_path, log=messages.append)
    assert other.directory != cache.directory and other.open("overhead_cam").shape[-2:] == (24, 32)


def test_resize_keeps_uint8_range_and_shape() -> None:
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 48, 64, 3), dtype=np.uint8)
    out = resize_frames(frames, 24, 32)
    assert out.shape == (2, 3, 24, 32) and out.dtype == np.uint8
    np.testing.assert_array_equal(resize_frames(frames, 48, 64), frames.transpose(0, 3, 1, 2))
