"""``so101 dataset import-hdf5``: exported episodes come back as the same dataset; LeIsaac files import; bad input
is one line and leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from so101.recording.dataset_tools import validate_main
from so101.recording.hdf5_export import main as export_main
from so101.recording.hdf5_import import check_imported, main

TINY_REPO_ID = "test/so101_scripted"
"""The repo id of the `tiny_dataset` fixture (its folder is what matters)."""

FRAME_TOLERANCE = 5.0
"""Largest mean absolute difference (0..255) between a frame before and after import (measured: 1.7 on average,
2.7 at worst): the fixture's videos are h264 at CRF 30 (lossy), and importing encodes the frames once more."""


@pytest.fixture(scope="module")
def exported(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("hdf5") / "pick"
    argv = ["--dataset.root", str(tiny_dataset), "--dataset.repo_id", TINY_REPO_ID, "--output", str(output)]
    assert export_main([*argv, "--episodes", "[0, 3]"]) == 0
    return output


def test_export_then_import_gives_the_same_joints_actions_and_frames(
    tiny_dataset: Path, exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = tmp_path / "again"
    assert main(["--input", str(exported), "--dataset.root", str(root), "--dataset.repo_id", "test/again"]) == 0
    assert "2 episode(s), 80 frames" in capsys.readouterr().out
    original = LeRobotDataset(TINY_REPO_ID, root=tiny_dataset)
    imported = LeRobotDataset("test/again", root=root)
    assert imported.meta.total_episodes == 2 and imported.fps == 30 and imported.meta.robot_type == "so101_follower"
    assert imported.meta.features["observation.state"] == original.meta.features["observation.state"]
    assert list(imported.meta.tasks.index) == list(original.meta.tasks.index)
    for new_episode, old_episode in ((0, 0), (1, 3)):
        new_start = int(imported.meta.episodes[new_episode]["dataset_from_index"])
        old_start = int(original.meta.episodes[old_episode]["dataset_from_index"])
        for t in (0, 20, 39):
            new, old = imported[new_start + t], original[old_start + t]
            for key in ("observation.state", "action"):
                np.testing.assert_array_equal(new[key].numpy(), old[key].numpy())
            for camera in original.meta.video_keys:
                difference = (new[camera] - old[camera]).abs().mean().item() * 255
                assert difference < FRAME_TOLERANCE, (camera, t, difference)
    session = json.loads((root / "meta/so101/recording.json").read_text())["sessions"][0]
    assert session["source"] == "import-hdf5" and session["fps"] == 30
    lines = (root / "meta/so101/episodes.jsonl").read_text().splitlines()
    assert [(json.loads(line)["outcome"], json.loads(line)["placement"]) for line in lines] == [("imported", None)] * 2
    assert check_imported(root, "test/again") == []
    # so101 dataset validate passes it too, saying what it could not check.
    capsys.readouterr()
    assert validate_main(["--dataset.root", str(root), "--dataset.repo_id", "test/again"]) == 0
    assert "imported (import-hdf5)" in capsys.readouterr().out
    from so101.recording.replay import main as replay_main

    assert replay_main(["--dataset.root", str(root), "--episode", "1"]) == 2
    err = capsys.readouterr().err
    assert "episodes [0, 1] have no simulator scene" in err and "imported from HDF5" in err


def test_a_leisaac_file_imports_in_dataset_units(tmp_path: Path) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    rng = np.random.default_rng(0)
    joint_pos = rng.uniform(-1.0, 1.0, (12, 6)).astype(np.float32)
    joint_pos[:, 5] = np.linspace(-0.1745, 1.7453, 12)  # the gripper over its whole range: 0 .. 100
    path = tmp_path / "dataset.hdf5"
    with h5py.File(path, "w") as file:
        demo = file.create_group("data/demo_0")
        demo.attrs["success"] = True
        demo.create_dataset("obs/joint_pos", data=joint_pos)
        demo.create_dataset("actions", data=joint_pos + 0.01)
        demo.create_dataset("obs/front", data=rng.integers(0, 255, (12, 32, 48, 3), dtype=np.uint8))
        demo.create_dataset("obs/wrist", data=np.full((12, 32, 48, 3), 90, np.uint8))
    root = tmp_path / "leisaac"
    argv = ["--input", str(path), "--dataset.root", str(root), "--task", "Pick the orange", "--fps", "15"]
    assert main([*argv, "--dataset.repo_id", "test/leisaac", "--cameras", "{front: overhead_cam}"]) == 0
    dataset = LeRobotDataset("test/leisaac", root=root)
    assert dataset.fps == 15 and list(dataset.meta.tasks.index) == ["Pick the orange"]
    assert set(dataset.meta.video_keys) == {"observation.images.overhead_cam", "observation.images.wrist_cam"}
    states = np.stack([dataset[i]["observation.state"].numpy() for i in range(12)])
    np.testing.assert_allclose(states[:, :5], np.rad2deg(joint_pos[:, :5]), atol=1e-3)
    np.testing.assert_allclose(states[:, 5], np.linspace(0, 100, 12), atol=0.01)
    assert abs(dataset[3]["observation.images.wrist_cam"].mean().item() * 255 - 90) < 3


BAD_INPUT = {
    "missing": ("does not exist",),
    "seven_joints": ("observations/qpos", "expected (frames, 6)"),
    "no_units": ("--units",),
    "not_hdf5": ("not an HDF5 file",),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"{case}.hdf5"
    if case == "not_hdf5":
        path.write_bytes(b"\x00" * 64)
    elif case != "missing":
        with h5py.File(path, "w") as file:
            file.attrs["task"] = "t"
            if case == "seven_joints":
                file.attrs["units"] = "degrees"
            joints = 7 if case == "seven_joints" else 6
            file.create_dataset("observations/qpos", data=np.zeros((4, joints), np.float32))
            file.create_dataset("action", data=np.zeros((4, joints), np.float32))
    root = tmp_path / "out"
    assert main(["--input", str(path), "--dataset.root", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("so101 dataset import-hdf5: ")
    assert all(fragment in err for fragment in BAD_INPUT[case]), err
    assert not root.exists()


def test_an_existing_destination_is_refused(exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").mkdir()
    assert main(["--input", str(exported), "--dataset.root", str(tmp_path / "out")]) == 2
    assert "exists already" in capsys.readouterr().err


def test_an_interrupted_import_leaves_no_dataset(
    exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from so101.recording.dataset_writer import DatasetWriter

    add_frame = DatasetWriter.add_frame
    calls = []

    def interrupt_in_the_second_episode(self, *args) -> None:
        calls.append(1)
        if len(calls) == 50:
            raise KeyboardInterrupt  # Ctrl-C while the second episode is being written
        add_frame(self, *args)

    monkeypatch.setattr(DatasetWriter, "add_frame", interrupt_in_the_second_episode)
    root = tmp_path / "out"
    assert main(["--input", str(exported), "--dataset.root", str(root)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not root.exists()


def test_the_task_is_given_with_task_not_dataset_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--input", str(tmp_path), "--dataset.task", "Pick the orange"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("so101 dataset import-hdf5: unknown option --dataset.task") and "--task" in err, err
