"""kill -9 a 6-episode recording session at 12 points: every episode reported saved loads with stock LeRobot.

The session runs in forks of ``tests/record_forker.py``; ``SO101_CRASH_AT`` makes each fork SIGKILL itself at one
named point (``so101.recording.crash_points``): during an episode, between episodes, inside the save of an episode
(before LeRobot writes, after it wrote, after the commit) and during finalize. After every kill the dataset folder is
copied aside; each copy must open with ``LeRobotDataset`` and hold every episode reported saved, with its frames,
the videos of both cameras, statistics, scene and task. ``--resume true`` continues after each kill and the last
run completes the session.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from record_forker import Forker

from so101.recording.durable_root import work_dir
from so101.recording.scene_metadata import SceneMetadata
from so101.sim.task_signals import TASK

REPO_ID = "test/so101_durable"
SESSION_EPISODES = 6
FRAMES = 20
"""Frames per episode: episodes are cut at FRAMES/30 s and kept as time-outs, so every attempt is saved."""

KILLS: list[tuple[str, int]] = [
    ("frame", 15),  # during the first episode: nothing saved yet
    ("save:staged", 1),  # inside the save of the very first episode
    ("save:written", 1),  # LeRobot wrote the first episode, not yet committed
    ("save:committed", 1),  # the first episode is committed, not yet reported
    ("saved", 1),  # between episodes, right after "saved"
    ("frame", 30),  # during the second episode of a session
    ("save:staged", 1),  # inside a save, appending to an existing dataset
    ("save:written", 1),
    ("save:committed", 1),
    ("frame", 5),  # at the start of an episode
    ("finalize", 1),  # during finalize, after the session's one episode was saved
    ("frame", 10),
]


@pytest.fixture(scope="module")
def forker() -> Iterator[Forker]:
    process = Forker()
    yield process
    process.close()


def record_argv(root: Path, episodes: int, repo_id: str = REPO_ID) -> list[str]:
    """A scripted session of short episodes (kept as time-outs) with two 64x48 cameras."""
    return [
        "record", "--teleop", "scripted", "--episodes", str(episodes), "--keep_failed", "true",
        "--episode_time_s", str(FRAMES / 30), "--dataset.repo_id", repo_id, "--dataset.root", str(root),
        "--cameras.width", "64", "--cameras.height", "48", "--resume", str(root.exists()).lower(),
    ]


def run_record(forker: Forker, root: Path, episodes: int, log: Path, crash_at: str = "") -> int:
    """Run ``so101 record`` in a fork; returns its exit status (-9: killed)."""
    return forker.run(record_argv(root, episodes), log, {"SO101_CRASH_AT": crash_at})


def reported_saved(log: Path) -> int:
    return sum("saved as episode" in line for line in log.read_text().splitlines())


def check_loads(root: Path) -> int:
    """Open ``root`` with stock LeRobot and read every episode's first and last frame; returns the episodes."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset(REPO_ID, root=root)
    meta = dataset.meta
    for episode in range(meta.total_episodes):
        row = meta.episodes[episode]
        for index in (row["dataset_from_index"], row["dataset_to_index"] - 1):
            item = dataset[index]
            assert int(item["episode_index"]) == episode and item["task"] == TASK
            for key in meta.video_keys:
                assert tuple(item[key].shape) == (3, 48, 64), key
    assert {"action", "observation.state", *meta.video_keys} <= set(meta.stats)
    scenes = SceneMetadata(root).episodes()
    assert [scene.episode_index for scene in scenes] == list(range(meta.total_episodes))
    assert not list(root.glob("tmp*")), "a temporary video was left inside the dataset"
    return int(meta.total_episodes)


def test_every_saved_episode_survives_kill_9_anywhere(forker: Forker, tmp_path: Path) -> None:
    root = tmp_path / "dataset"
    snapshots: list[tuple[str, int, Path | None]] = []
    reported = 0
    for number, (point, count) in enumerate(KILLS):
        log = tmp_path / f"run{number}.log"
        remaining = SESSION_EPISODES - (check_loads(root) if root.exists() else 0)
        # The finalize kill ends a one-episode session, which leaves episodes for the kills after it.
        code = run_record(forker, root, 1 if point == "finalize" else remaining, log, f"{point}:{count}")
        assert code == -9, f"kill {number} at {point}:{count} did not happen (exit {code}):\n{log.read_text()}"
        reported += reported_saved(log)
        snapshot = tmp_path / f"after{number}" if root.exists() else None
        if snapshot is not None:
            shutil.copytree(root, snapshot)
        else:
            # A session killed before its first saved episode leaves nothing: a plain retry works.
            assert reported == 0
        snapshots.append((f"{point}:{count}", reported, snapshot))
        assert "Traceback" not in log.read_text()

    survived = 0
    for name, saved, snapshot in snapshots:
        loaded = check_loads(snapshot) if snapshot is not None else 0
        assert loaded >= saved, f"after a kill at {name}: {saved} episode(s) reported saved, {loaded} load"
        survived += 1
    assert survived == len(KILLS) == 12

    log = tmp_path / "final.log"
    remaining = SESSION_EPISODES - check_loads(root)
    assert run_record(forker, root, remaining, log) == 0, log.read_text()
    assert check_loads(root) == SESSION_EPISODES
    assert not work_dir(root).exists()
    seeds = [scene.placement.seed for scene in SceneMetadata(root).episodes()]
    assert len(set(seeds)) == SESSION_EPISODES


def test_a_session_killed_before_its_first_episode_leaves_nothing(forker: Forker, tmp_path: Path) -> None:
    root = tmp_path / "dataset"
    assert run_record(forker, root, 1, tmp_path / "killed.log", "frame:5") == -9
    assert not root.exists()
    # The retry needs no --resume; it says what it cleaned up.
    assert forker.run(record_argv(root, 1), tmp_path / "retry.log") == 0
    assert "a dataset with no saved episode" in (tmp_path / "retry.log").read_text()
    assert check_loads(root) == 1 and not work_dir(root).exists()


def test_resume_names_a_folder_an_older_version_left_without_episodes(tmp_path: Path, capsys) -> None:
    """Older versions left meta/info.json and meta/so101/recording.json when a session crashed before saving."""
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

    from so101.recording.dataset_writer import dataset_features
    from so101.recording.record import main
    from so101.sim.scene import CameraConfig

    root = tmp_path / "dataset"
    cameras = [CameraConfig("overhead_cam", 64, 48), CameraConfig("wrist_cam", 64, 48)]
    LeRobotDatasetMetadata.create(REPO_ID, 30, dataset_features(cameras), "so101_follower", root=root)
    SceneMetadata(root).add_session({"fps": 30})
    assert main(record_argv(root, 1)[1:]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds no episode" in err and "remove the folder" in err
