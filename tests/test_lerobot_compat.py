"""Contract tests of so101.lerobot_compat: what the workbench relies on inside LeRobot 0.4.4 and draccus 0.10.0.

Each test pins one behaviour of the installed versions that the adapter uses; a LeRobot or draccus upgrade that
changes it fails here, by name, instead of somewhere in a recording.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import tomllib

from so101 import lerobot_compat
from so101.errors import DependencyError
from so101.lerobot_compat import SUPPORTED, DatasetInternals, require

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_the_supported_versions_are_the_pins_and_are_installed() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    pins = dict(re.match(r"([\w-]+)(?:\[[\w,]+\])?==(.+)", d).groups() for d in pyproject["project"]["dependencies"])
    for package, version in SUPPORTED.items():
        assert pins[package] == version, f"pyproject.toml pins {package}=={pins[package]}, the adapter {version}"
        assert lerobot_compat.installed_version(package) == version
        require(package, "the test")


def test_another_version_is_refused_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lerobot_compat, "installed_version", lambda package: "0.5.0")
    with pytest.raises(DependencyError) as raised:
        require("lerobot", "durable dataset recording")
    error = raised.value
    assert (error.package, error.installed, error.supported) == ("lerobot", "0.5.0", "0.4.4")
    assert "pip install lerobot==0.4.4" in str(error) and "durable dataset recording" in str(error)


def test_patching_another_draccus_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from draccus.wrappers import docstring

    monkeypatch.setattr(docstring, "_so101_patched", False, raising=False)
    monkeypatch.setattr(lerobot_compat, "installed_version", lambda package: "0.11.0")
    with pytest.raises(DependencyError, match=r"draccus 0\.11\.0 is installed"):
        lerobot_compat.patch_draccus()


# ---------------------------------------------------------------------------------------------- draccus


@dataclasses.dataclass
class _Options:
    brick: Literal["2x4", "2x2"] = "2x4"
    """Which brick: 2x4 or 2x2."""
    fps: int = 30
    """Control rate (Hz): steps per second."""
    share: float = 0.5
    """Share of the frames kept, 50 % by default."""


def test_draccus_internals_the_patches_replace_are_there() -> None:
    from draccus.parsers.decoding import decode
    from draccus.wrappers import docstring

    assert callable(docstring.get_attribute_docstring) and callable(docstring._contains_attribute_definition)
    assert callable(decode.register)


def test_patched_draccus_decodes_literals_by_value_and_shows_every_field_help() -> None:
    import draccus

    lerobot_compat.patch_draccus()
    parsed = draccus.parse(config_class=_Options, args=["--brick", "2x2", "--fps", "60"], exit_on_error=False)
    assert parsed == _Options(brick="2x2", fps=60)
    with pytest.raises(Exception, match="'3x3' is not one of 2x4, 2x2"):
        draccus.parse(config_class=_Options, args=["--brick", "3x3"], exit_on_error=False)
    from draccus.argparsing import ArgumentParser

    text = ArgumentParser(config_class=_Options, exit_on_error=False).parser.format_help()
    assert "Control rate (Hz): steps per second." in text  # a colon in the first line is not a field
    assert "50 % by default" in text  # % reaches argparse escaped


# ---------------------------------------------------------------------------------------------- LeRobot


def _dataset(root: Path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    features = {
        "observation.state": {"dtype": "float32", "shape": (2,), "names": ["a", "b"]},
        "observation.images.cam": {"dtype": "video", "shape": (16, 16, 3), "names": ["height", "width", "channels"]},
    }
    return LeRobotDataset.create(repo_id="test/compat", fps=10, features=features, root=root, use_videos=True,
                                 vcodec="h264", streaming_encoding=True)  # fmt: skip


def _add_frames(dataset, count: int) -> None:
    for index in range(count):
        image = np.full((16, 16, 3), 40 * index, dtype=np.uint8)
        dataset.add_frame({"observation.state": np.array([index, -index], dtype=np.float32),
                           "observation.images.cam": image, "task": "compat"})  # fmt: skip


def test_the_lossless_encoder_replaces_lerobots_and_encodes_every_frame(tmp_path: Path) -> None:
    from lerobot.datasets.video_utils import StreamingVideoEncoder, get_video_info

    dataset = _dataset(tmp_path / "ds")
    assert isinstance(dataset._streaming_encoder, StreamingVideoEncoder)
    lerobot_compat.use_lossless_encoder(dataset, encoder_threads=1)
    encoder = dataset._streaming_encoder
    assert type(encoder).__name__ == "WaitingEncoder" and encoder.queue_maxsize == 30
    _add_frames(dataset, 5)
    assert set(encoder._frame_queues) == set(encoder._threads) == set(encoder._result_queues) == {
        "observation.images.cam"
    }
    dataset.save_episode()
    dataset.finalize()
    (video,) = (tmp_path / "ds" / "videos").rglob("*.mp4")
    assert get_video_info(video)["video.fps"] == 10
    assert dataset.meta.total_frames == 5


def test_dataset_internals_redirect_close_and_restart_the_writer(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    first, second = tmp_path / "v1", tmp_path / "v2"
    dataset = _dataset(first)
    internals = DatasetInternals(dataset)
    rows = internals.appendable_episodes()
    assert rows == [] and dataset.meta.episodes is rows

    _add_frames(dataset, 3)
    dataset.save_episode()
    internals.close_writers()
    assert dataset.writer is None and dataset.meta.writer is None
    # Closed writers: the Parquet files have their footers, readable while the dataset stays open.
    (data,) = (first / "data").rglob("*.parquet")
    assert pq.read_table(data).num_rows == 3
    row = internals.take_latest_episode()
    assert row["episode_index"] == 0 and dataset.latest_episode is None and dataset.meta.latest_episode is None
    rows.append(row)

    # The next episode, written under another folder, starts new files there (LeRobot's resume path).
    import shutil

    shutil.copytree(first, second)
    internals.point_at(second, second)
    _add_frames(dataset, 2)
    dataset.save_episode()
    internals.close_writers()
    assert dataset.root == second and dataset.meta.root == second
    written = sorted(p.relative_to(second) for p in (second / "data").rglob("*.parquet"))
    assert len(written) == 2, written
    assert sorted(p.relative_to(first) for p in (first / "data").rglob("*.parquet")) == written[:1]
    assert dataset.meta.total_episodes == 2 and internals.take_latest_episode()["episode_index"] == 1


def test_abandoned_writers_leave_nothing_to_flush(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path / "ds")
    internals = DatasetInternals(dataset)
    internals.appendable_episodes()
    _add_frames(dataset, 2)
    dataset.save_episode()
    assert dataset.writer is not None
    internals.abandon_writers()
    assert dataset.writer is None and dataset.meta.writer is None and not dataset.meta.metadata_buffer


# ------------------------------------------------------------------------------------------- statistics


def test_image_statistics_take_pixels_as_floats() -> None:
    from lerobot.datasets.compute_stats import get_feature_stats

    lerobot_compat.correct_image_stats()
    lerobot_compat.correct_image_stats()  # idempotent: one float conversion, not two wrappers
    pixels = np.random.default_rng(0).integers(0, 256, size=(8, 3, 12, 16), dtype=np.uint8)
    stats = get_feature_stats(pixels, axis=(0, 2, 3), keepdims=True)
    expected = pixels.astype(np.float64).std(axis=(0, 2, 3))
    np.testing.assert_allclose(stats["std"].reshape(3), expected, rtol=1e-9)
    np.testing.assert_allclose(stats["mean"].reshape(3), pixels.mean(axis=(0, 2, 3)), rtol=1e-9)


@pytest.fixture(scope="module")
def camera_sized_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 scripted episodes of 8 frames at the default 640x480: at the tiny fixture's 128x96 the video codec's
    chroma subsampling alone moves a channel's std by up to 9 %, at 640x480 by 2 %."""
    from so101.recording.dataset_writer import DatasetConfig
    from so101.recording.record import RecordConfig, record
    from so101.sim.options import CameraOptions

    root = tmp_path_factory.mktemp("datasets") / "camera_sized"
    config = RecordConfig(
        episodes=2, dataset=DatasetConfig(repo_id="test/camera_sized", root=root), keep_failed=True,
        episode_time_s=8 / 30, cameras=CameraOptions(width=640, height=480),
    )
    assert record(config).total_episodes == 2
    return root


def test_recorded_image_statistics_are_the_frames(camera_sized_dataset: Path) -> None:
    """meta/stats.json's image mean/std/min/max (0..1, per channel, LeRobot's (3, 1, 1) layout) against every frame
    LeRobot decodes from the dataset's videos: std within 5 %."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from lerobot.datasets.utils import load_stats
    from lerobot.datasets.video_utils import decode_video_frames

    stats = load_stats(camera_sized_dataset)
    dataset = LeRobotDataset("test/camera_sized", root=camera_sized_dataset)
    for key in dataset.meta.video_keys:
        frames = []
        for episode in range(dataset.meta.total_episodes):
            row = dataset.meta.episodes[episode]
            start = float(row[f"videos/{key}/from_timestamp"])
            times = [start + i / dataset.fps for i in range(int(row["length"]))]
            path = dataset.root / dataset.meta.get_video_file_path(episode, key)
            frames.append(decode_video_frames(path, times, dataset.tolerance_s, dataset.video_backend).numpy())
        pixels = np.concatenate(frames)  # (N, 3, H, W) in 0..1
        assert len(pixels) == dataset.num_frames == 16
        true_std, true_mean = pixels.std(axis=(0, 2, 3)), pixels.mean(axis=(0, 2, 3))
        assert np.asarray(stats[key]["std"]).shape == (3, 1, 1)
        std, mean = np.asarray(stats[key]["std"]).reshape(3), np.asarray(stats[key]["mean"]).reshape(3)
        assert true_std.min() > 0.05, true_std  # a scene, not a blank frame: the check below means something
        np.testing.assert_allclose(std, true_std, rtol=0.05, err_msg=key)
        np.testing.assert_allclose(mean, true_mean, atol=0.01, err_msg=key)
        assert np.asarray(stats[key]["min"]).min() >= 0.0 and np.asarray(stats[key]["max"]).max() <= 1.0


def test_lerobots_rollout_reads_the_tasks_of_async_workers() -> None:
    import gymnasium as gym
    from lerobot.envs import utils

    import so101.sim.lerobot_env  # noqa: F401  (the env plugin applies ask_async_workers_for_tasks)
    from so101.sim.env import ENV_ID, TASK

    def make() -> gym.Env:
        return gym.make(ENV_ID, cameras=[], max_episode_steps=3)

    observation = {"agent_pos": np.zeros((2, 6), dtype=np.float32)}
    async_env = gym.vector.AsyncVectorEnv([make, make])
    try:
        assert not hasattr(async_env, "envs")  # what LeRobot 0.4.4's own checks read
        utils.check_env_attributes_and_types(async_env)
        assert utils.add_envs_task(async_env, dict(observation))["task"] == [TASK, TASK]
    finally:
        async_env.close()
    sync_env = gym.vector.SyncVectorEnv([make, make])
    # LeRobot's own code: gymnasium 1's wrappers hide the env's attributes from hasattr, so no task is found.
    assert utils.add_envs_task(sync_env, dict(observation))["task"] == ["", ""]
    sync_env.close()


def test_torchvisions_video_deprecation_warning_alone_is_quieted() -> None:
    import warnings

    from torchvision.io._video_deprecation_warning import _raise_video_deprecation_warning

    from so101.lerobot_compat import quiet_torchvision_video_warning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _raise_video_deprecation_warning()  # what LeRobot's torchvision decoder triggers on opening a video
        assert len(caught) == 1 and "torchvision are deprecated" in str(caught[0].message)
        quiet_torchvision_video_warning()
        _raise_video_deprecation_warning()
        warnings.warn("another warning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught[1:]] == ["another warning"]
