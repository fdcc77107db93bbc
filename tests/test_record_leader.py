"""``so101 record --teleop leader`` end to end over the Feetech bus emulator, including a leader unplugged
mid-episode: saved episodes stay a valid LeRobot dataset, the partial one is dropped, and ``--resume`` continues."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from so101.recording.record import main
from so101.teleop.feetech import emulated_arm
from so101.teleop.feetech.emulator import FeetechBusEmulator

POSE = np.array([10.0, -20.0, 30.0, -40.0, 50.0, 25.0])
FRAMES_PER_EPISODE = 15  # --episode_time_s 0.5 at 30 fps


def record_argv(emulator: FeetechBusEmulator, tmp_path, episodes: int, *extra: str) -> list[str]:
    return [
        "--teleop", "leader",
        "--leader.port", emulator.port,
        "--leader.id", "my_leader",
        "--leader.calibration_dir", str(tmp_path / "calibration"),
        "--episodes", str(episodes),
        "--episode_time_s", "0.5",
        "--keep_failed", "true",  # the emulated hand holds one pose: every episode times out
        "--cameras.width", "64",
        "--cameras.height", "48",
        "--dataset.root", str(tmp_path / "dataset"),
        "--dataset.vcodec", "h264",
        *extra,
    ]  # fmt: skip


def leader(tmp_path) -> FeetechBusEmulator:
    emulator = FeetechBusEmulator().start()
    emulated_arm.prepare(emulator, tmp_path / "calibration", "my_leader")
    emulator.play(lambda t: POSE)
    return emulator


def open_dataset(tmp_path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    return LeRobotDataset("local/so101_pickplace", root=tmp_path / "dataset")


def test_records_an_episode_driven_by_the_leader(tmp_path, capsys):
    with leader(tmp_path) as emulator:
        assert main(record_argv(emulator, tmp_path, 1)) == 0
    assert "saved 1 episode(s) (15 frames)" in capsys.readouterr().out
    dataset = open_dataset(tmp_path)
    assert dataset.meta.total_episodes == 1 and len(dataset) == FRAMES_PER_EPISODE
    actions = np.stack([dataset[i]["action"].numpy() for i in range(len(dataset))])
    np.testing.assert_allclose(actions, np.broadcast_to(POSE, actions.shape), atol=0.1)
    first, last = (dataset[i]["observation.state"].numpy() for i in (0, len(dataset) - 1))
    assert np.abs(first - POSE).max() > 100  # the rest pose's wrist_flex is 85 deg, the leader's -40
    np.testing.assert_allclose(last, POSE, atol=3.0)  # 14 steps later the sim arm has nearly caught up
    assert dataset[0]["observation.images.wrist_cam"].shape == (3, 48, 64)


def unplug_after(emulator: FeetechBusEmulator, reads: int) -> threading.Thread:
    """Pull the emulated cable once the leader has been read ``reads`` times (one read per frame)."""

    def watch() -> None:
        while emulator.counters.requests["sync_read"] < reads:
            time.sleep(0.002)
        emulator.unplug()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_unplugged_mid_episode_keeps_saved_episodes_and_resumes(tmp_path, capsys):
    with leader(tmp_path) as emulator:
        watcher = unplug_after(emulator, FRAMES_PER_EPISODE + 5)  # five frames into episode 2
        assert main(record_argv(emulator, tmp_path, 3)) == 1
        watcher.join(timeout=10)
    out = capsys.readouterr().out
    assert "saved 1 episode(s) (15 frames)" in out and "has 1 episode(s)" in out
    assert "USB cable unplugged" in out and "discarded" in out and "--resume true" in out
    dataset = open_dataset(tmp_path)
    assert dataset.meta.total_episodes == 1 and len(dataset) == FRAMES_PER_EPISODE
    assert dataset[FRAMES_PER_EPISODE - 1]["observation.images.overhead_cam"].shape == (3, 48, 64)

    with leader(tmp_path) as emulator:  # plugged back in (on another port, as happens with USB)
        assert main(record_argv(emulator, tmp_path, 1, "--resume", "true")) == 0
    dataset = open_dataset(tmp_path)
    assert dataset.meta.total_episodes == 2 and len(dataset) == 2 * FRAMES_PER_EPISODE


@pytest.mark.parametrize(
    ("port", "calibrated", "expected"),
    [
        ("/dev/ttyNOPE3", True, "Serial ports found"),
        (None, False, "so101 calibrate-leader --leader.port"),
    ],
)
def test_leader_problems_at_start_name_the_fix(tmp_path, capsys, port, calibrated, expected):
    with FeetechBusEmulator() as emulator:
        if calibrated:
            emulated_arm.prepare(emulator, tmp_path / "calibration", "my_leader")
        argv = record_argv(emulator, tmp_path, 1)
        if port is not None:
            argv[argv.index(emulator.port)] = port
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("so101 record: ") and expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "dataset").exists()
