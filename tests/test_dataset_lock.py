"""One writer per dataset: the lock itself, every writing command refused while another process holds it, and two
real ``so101 record`` sessions on one dataset (started together and one after the other) losing nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from so101.recording.dataset_lock import DatasetBusy, DatasetLock, lock_path
from so101.recording.durable_root import work_dir

REPO_ROOT = Path(__file__).parents[1]
REPO_ID = "test/so101_locked"
FRAMES = 20
"""Frames per episode of the subprocess recordings: cut at FRAMES/30 s and kept as time-outs."""

HOLDER = """
import sys, time
from pathlib import Path
from so101.recording.dataset_lock import DatasetLock
DatasetLock(Path(sys.argv[1]), "dataset merge").acquire()
print("locked", flush=True)
time.sleep(600)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Callable[[Path], subprocess.Popen]]:
    """Start processes that take a dataset's lock and keep it until they are killed."""
    started: list[subprocess.Popen] = []

    def start(root: Path) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(root)], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        started.append(process)
        assert process.stdout is not None and process.stdout.readline().strip() == "locked"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_second_lock_is_refused_naming_the_holder(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with DatasetLock(root, "record"):
        with pytest.raises(DatasetBusy) as refused:
            DatasetLock(root, "dataset repair", "--output").acquire()
        message = str(refused.value)
        assert f"PID {os.getpid()} (so101 record)" in message and "--output" in message
        assert "\n" not in message
    # Released: the next writer takes it, and no file is left beside the dataset.
    assert not lock_path(root).exists()
    with DatasetLock(root, "record") as lock:
        assert lock.held
    assert not any(tmp_path.iterdir())


def test_an_existing_dataset_in_a_missing_folder_is_not_locked_and_no_folder_is_made(tmp_path: Path) -> None:
    with DatasetLock(tmp_path / "missing" / "data", "dataset delete-episodes", create_parent=False) as lock:
        assert not lock.held
    assert not (tmp_path / "missing").exists()
    with DatasetLock(tmp_path / "new" / "data", "record") as lock:  # a new dataset's folder is made
        assert lock.held and (tmp_path / "new").is_dir()


def test_two_paths_to_one_dataset_share_one_lock(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    with DatasetLock(tmp_path / "real", "record"), pytest.raises(DatasetBusy):
        DatasetLock(tmp_path / "alias", "record").acquire()


def test_a_killed_holder_leaves_a_lock_that_can_be_taken(tmp_path: Path, holder) -> None:
    root = tmp_path / "data"
    process = holder(root)
    with pytest.raises(DatasetBusy, match=f"PID {process.pid} \\(so101 dataset merge\\)"):
        DatasetLock(root, "record").acquire()
    process.send_signal(signal.SIGKILL)
    process.wait()
    # Its lock file stays, with its PID: only the lock decides, not the file's existence.
    assert lock_path(root).read_text().startswith(f"{process.pid} ")
    with DatasetLock(root, "record"):
        assert lock_path(root).read_text() == f"{os.getpid()} record\n"


def test_a_writer_refused_by_the_lock_leaves_the_work_folder_of_the_live_one(tmp_path: Path, holder) -> None:
    from so101.recording.dataset_writer import DatasetConfig, DatasetWriter
    from so101.sim.scene import CameraConfig

    root = tmp_path / "data"
    in_progress = work_dir(root) / "stream" / "overhead_cam.mp4"
    in_progress.parent.mkdir(parents=True)
    in_progress.write_bytes(b"frames of the live session")
    process = holder(root)
    config = DatasetConfig(repo_id=REPO_ID, root=root)
    cameras = [CameraConfig("overhead_cam", 64, 48)]
    for opener in (DatasetWriter.create, DatasetWriter.resume):
        with pytest.raises(DatasetBusy, match=f"PID {process.pid}"):
            opener(config, 30, cameras, {})
        assert in_progress.read_bytes() == b"frames of the live session"
    process.kill()
    process.wait()
    # The holder is dead: its work folder is a killed session's leftovers, removed and reported.
    writer = DatasetWriter.create(config, 30, cameras, {})
    try:
        assert not in_progress.exists()
        with pytest.raises(DatasetBusy, match=f"PID {os.getpid()} \\(so101 record\\)"):
            DatasetLock(root, "record").acquire()
    finally:
        writer.finalize()
    assert not lock_path(root).exists() and not root.exists()


@pytest.mark.parametrize(
    ("argv", "locked"),
    [
        (["dataset", "merge", "--roots", "[{src}, {src}]", "--output.root", "{out}"], "out"),
        (["dataset", "delete-episodes", "--dataset.root", "{src}", "--episodes", "[0]"], "src"),
        (["dataset", "delete-episodes", "--dataset.root", "{src}", "--episodes", "[0]", "--output", "{out}"], "out"),
        (["dataset", "repair", "--dataset.root", "{src}", "--output", "{out}"], "out"),
        (["convert-ee", "--src.root", "{src}", "--dst.root", "{out}"], "out"),
    ],
)
def test_every_dataset_command_refuses_a_dataset_another_process_writes(
    argv: list[str], locked: str, tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    from so101.cli import main

    paths = {"src": tmp_path / "src", "out": tmp_path / "out"}
    paths["src"].mkdir()
    (paths["src"] / "kept.txt").write_text("untouched")
    if argv[0] == "convert-ee":  # it reads its source before it stages its output
        paths["src"] = request.getfixturevalue("tiny_dataset")
    with DatasetLock(paths[locked], "record"):
        code = main([arg.format(**paths) for arg in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and f"PID {os.getpid()} (so101 record)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
    assert [p.name for p in (tmp_path / "src").iterdir()] == ["kept.txt"]


# ------------------------------------------------------------------------------ two real recorders on one dataset


def start_record(root: Path, episodes: int, seed: int, log: Path, resume: bool) -> subprocess.Popen:
    """``python -m so101 record`` of short scripted episodes (kept as time-outs), two 128x96 cameras."""
    argv = [
        sys.executable, "-m", "so101", "record", "--teleop", "scripted", "--episodes", str(episodes),
        "--keep_failed", "true", "--episode_time_s", str(FRAMES / 30), "--seed", str(seed),
        "--dataset.repo_id", REPO_ID, "--dataset.root", str(root), "--cameras.width", "128",
        "--cameras.height", "96", "--resume", str(resume).lower(),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    with log.open("w") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env)


def stock_episodes(root: Path) -> int:
    """Episodes of ``root`` opened with stock LeRobot, every episode's last frame read; scenes one per episode."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from so101.recording.scene_metadata import SceneMetadata

    dataset = LeRobotDataset(REPO_ID, root=root)
    for episode in range(dataset.meta.total_episodes):
        item = dataset[int(dataset.meta.episodes[episode]["dataset_to_index"]) - 1]
        assert int(item["episode_index"]) == episode
    assert [s.episode_index for s in SceneMetadata(root).episodes()] == list(range(dataset.meta.total_episodes))
    return int(dataset.meta.total_episodes)


def wait_for(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_two_recorders_started_together_on_one_dataset(tmp_path: Path) -> None:
    root = tmp_path / "data"
    first = start_record(root, 2, 0, tmp_path / "base.log", resume=False)
    assert first.wait(timeout=300) == 0, (tmp_path / "base.log").read_text()
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    # The case: both append to a 2-episode dataset with --resume, started at the same instant.
    # Sessions long enough that the one whose start-up is slower (a loaded machine) still finds the other running.
    sessions = [start_record(root, 6, seed, log, resume=True) for seed, log in zip((100, 200), logs, strict=True)]
    codes = [session.wait(timeout=300) for session in sessions]
    texts = [log.read_text() for log in logs]
    assert sorted(codes) == [0, 2], texts
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    refusal = texts[loser].strip()
    assert len(refusal.splitlines()) == 1 and f"PID {sessions[winner].pid} (so101 record)" in refusal, refusal
    assert texts[winner].count("saved as episode") == 6
    assert stock_episodes(root) == 8
    assert not work_dir(root).exists() and not lock_path(root).exists()


def test_a_second_recorder_started_during_a_session_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    # Far more episodes than the test waits for: the session is still running however slow the others start; it is
    # stopped with Ctrl-C once they have been refused.
    running = start_record(root, 500, 0, tmp_path / "a.log", resume=False)
    wait_for(lambda: "saved as episode 0" in (tmp_path / "a.log").read_text() or running.poll() is not None, 300)
    assert running.poll() is None, (tmp_path / "a.log").read_text()
    # Both ways in: appending to the dataset being recorded, and creating it (it exists by now).
    logs = {resume: tmp_path / f"late-{resume}.log" for resume in (True, False)}
    late = [start_record(root, 1, 100, log, resume=resume) for resume, log in logs.items()]
    for session, log in zip(late, logs.values(), strict=True):
        assert session.wait(timeout=300) == 2, log.read_text()
        assert f"PID {running.pid} (so101 record)" in log.read_text(), log.read_text()
    assert running.poll() is None, (tmp_path / "a.log").read_text()
    running.send_signal(signal.SIGINT)
    assert running.wait(timeout=300) == 130, (tmp_path / "a.log").read_text()
    saved = (tmp_path / "a.log").read_text().count("saved as episode")
    assert saved >= 1 and stock_episodes(root) == saved
    assert not work_dir(root).exists() and not lock_path(root).exists()
