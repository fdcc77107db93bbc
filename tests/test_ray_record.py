"""Tests of so101.recording.ray_record: ``so101 record --teleop scripted --backend ray`` on a real Ray cluster of
this machine (2 CPUs), against a serial recording of the same ``--seed``; the merged dataset checked by
``so101 dataset validate`` and opened by stock LeRobot."""

from __future__ import annotations

import io
import logging
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from so101.ray_cluster import RayOptions
from so101.recording.dataset_tools import validate_main
from so101.recording.dataset_writer import DatasetConfig
from so101.recording.durable_root import work_dir
from so101.recording.progress import Progress
from so101.recording.ray_record import record_on_ray, shards_dir
from so101.recording.record import RecordConfig, main
from so101.recording.scene_metadata import SceneMetadata
from so101.sim.options import CameraOptions

EPISODE = ["--teleop=scripted", "--seed=4", "--keep_failed=true", "--episode_time_s=1.0", "--cameras.width=64",
           "--cameras.height=48"]  # fmt: skip


def _actions_by_seed(root: Path) -> dict[int, np.ndarray]:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    frames = LeRobotDataset("test/so101_ray", root=root).hf_dataset.to_pandas()
    return {
        r.placement.seed: np.stack(frames[frames["episode_index"] == r.episode_index]["action"].to_numpy())
        for r in SceneMetadata(root).episodes()
    }


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serial") / "data"
    assert main([*EPISODE, "--episodes=3", f"--dataset.root={root}", "--dataset.repo_id=test/so101_ray"]) == 0
    return root


def test_ray_recording_has_the_serial_recordings_scenes_and_frames_validates_and_opens_in_lerobot(
    ray_address: str, serial: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = tmp_path / "data"
    args = [*EPISODE, "--episodes=3", f"--dataset.root={root}", "--dataset.repo_id=test/so101_ray", "--backend=ray",
            f"--ray.address={ray_address}", "--workers=2"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("of shard") == 3 and "the dataset at" in printed and "has 3 episode(s)" in printed, printed
    assert not shards_dir(root).exists(), "the shards are removed once merged"
    scenes = SceneMetadata(root)
    assert sorted(r.placement.seed for r in scenes.episodes()) == [4, 5, 6]
    ray_actions, serial_actions = _actions_by_seed(root), _actions_by_seed(serial)
    assert sorted(ray_actions) == sorted(serial_actions) == [4, 5, 6]
    for seed in (4, 5, 6):  # the same scene and the same expert: the same episode, frame by frame
        np.testing.assert_array_equal(ray_actions[seed], serial_actions[seed])
    assert validate_main([f"--dataset.root={root}", "--dataset.repo_id=test/so101_ray"]) == 0
    dataset = LeRobotDataset("test/so101_ray", root=root)
    assert dataset.meta.total_episodes == 3 and dataset.num_frames == 90
    assert tuple(dataset[45]["observation.images.overhead_cam"].shape) == (3, 48, 64)


def test_a_killed_ray_worker_loses_only_its_episode_in_progress(
    ray_address: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "data"
    cfg = RecordConfig(
        episodes=3, seed=4, keep_failed=True, episode_time_s=1.0, cameras=CameraOptions(width=64, height=48),
        dataset=DatasetConfig(repo_id="test/so101_ray", root=root), backend="ray", workers=1,
        ray=RayOptions(address=ray_address),
    )  # fmt: skip
    shards = shards_dir(root)
    lock, stream = shards / ".shard_000.so101-lock", work_dir(shards / "shard_000") / "stream"
    first_saved, done = threading.Event(), threading.Event()
    killed: list[int] = []

    class Watched(io.StringIO):
        """The progress stream: says when the first episode (seed 4) is reported saved."""

        def write(self, text: str) -> int:
            if "(seed 4," in text:
                first_saved.set()
            return super().write(text)

    def kill_during_the_second_episode() -> None:
        first_saved.wait()
        while not done.is_set():
            if stream.is_dir() and any(path.is_file() for path in stream.rglob("*")):  # its videos being encoded
                killed.append(int(lock.read_text().split()[0]))  # the lock holds the worker's PID
                os.kill(killed[0], signal.SIGKILL)
                return
            done.wait(0.005)

    killer = threading.Thread(target=kill_during_the_second_episode)
    killer.start()
    progress = Watched()
    try:
        with caplog.at_level(logging.WARNING, logger="so101"):
            summary = record_on_ray(cfg, Progress(3, progress))
    finally:
        first_saved.set()
        done.set()
        killer.join()
    assert killed, "the worker was killed"
    (warning,) = [r.getMessage() for r in caplog.records if "died" in r.getMessage()]
    assert f"recording worker {killed[0]} (Ray) died during the episode of scene seed 5" in warning, warning
    assert summary.saved == 3 and summary.total_episodes == 3 and not summary.stopped
    assert "(seed 5," in progress.getvalue() and "of shard 1" in progress.getvalue(), "seed 5 ran again, in a new shard"
    assert sorted(r.placement.seed for r in SceneMetadata(root).episodes()) == [4, 5, 6]
    assert validate_main([f"--dataset.root={root}", "--dataset.repo_id=test/so101_ray", "--resimulate=false"]) == 0

