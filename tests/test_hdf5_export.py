"""``so101 dataset export-hdf5``: a recorded dataset becomes ACT/ALOHA-layout files holding the same data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from so101.errors import So101Error
from so101.recording.hdf5_export import export_hdf5, joint_velocity, main

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_REPO_ID = "test/so101_scripted"
"""The repo id of the `tiny_dataset` fixture (its folder is what matters)."""


@pytest.fixture(scope="module")
def exported(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("hdf5") / "pick"
    assert main(["--dataset.root", str(tiny_dataset), "--dataset.repo_id", TINY_REPO_ID, "--output", str(output)]) == 0
    return output


def test_one_file_per_episode_in_the_act_layout(exported: Path) -> None:
    assert sorted(p.name for p in exported.iterdir()) == [f"episode_{i}.hdf5" for i in range(4)]
    with h5py.File(exported / "episode_1.hdf5") as file:
        assert file.attrs["sim"] and file.attrs["fps"] == 30 and file.attrs["units"] == "degrees"
        assert file.attrs["episode_index"] == 1 and file.attrs["task"].startswith("Pick up")
        assert file["observations/qpos"].shape == (40, 6) and file["action"].shape == (40, 6)
        qvel = file["observations/qvel"]
        assert qvel.shape == (40, 6) and "finite difference" in qvel.attrs["derived"]
        for camera in ("overhead_cam", "wrist_cam"):
            images = file[f"observations/images/{camera}"]
            assert images.shape == (40, 96, 128, 3) and images.dtype == np.uint8


def test_joints_actions_and_frames_are_the_datasets(tiny_dataset: Path, exported: Path) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset(TINY_REPO_ID, root=tiny_dataset)
    start = int(dataset.meta.episodes[2]["dataset_from_index"])
    with h5py.File(exported / "episode_2.hdf5") as file:
        qpos, action = file["observations/qpos"][()], file["action"][()]
        images = file["observations/images/wrist_cam"][()]
    for t in (0, 17, 39):
        item = dataset[start + t]
        np.testing.assert_array_equal(qpos[t], item["observation.state"].numpy())
        np.testing.assert_array_equal(action[t], item["action"].numpy())
        # The same decoder as LeRobot's loader: equal up to the rounding of [0, 1] floats back to bytes.
        frame = (item["observation.images.wrist_cam"].permute(1, 2, 0).numpy() * 255).round()
        assert np.abs(frame - images[t]).max() <= 1


def test_velocity_is_the_derivative_of_position() -> None:
    qpos = np.outer(np.arange(10.0), np.arange(1.0, 7.0))  # joint j moves j+1 units per frame
    np.testing.assert_allclose(joint_velocity(qpos, 30), np.tile(np.arange(1.0, 7.0) * 30, (10, 1)), rtol=1e-6)
    assert joint_velocity(qpos[:1], 30).shape == (1, 6)


def test_existing_files_and_unknown_episodes_are_refused(tiny_dataset: Path, exported: Path) -> None:
    with pytest.raises(FileExistsError, match=r"episode_0\.hdf5"):
        export_hdf5(tiny_dataset, exported, TINY_REPO_ID, [0])
    with pytest.raises(So101Error, match=r"--episodes \[7\]"):
        export_hdf5(tiny_dataset, exported.parent / "other", TINY_REPO_ID, [1, 7])
    assert not (exported.parent / "other").exists()


def test_the_source_is_the_datasets_repo_id_even_when_only_its_folder_is_given(
    tiny_dataset: Path, exported: Path, tmp_path: Path
) -> None:
    from so101.recording.dataset_writer import DatasetRef
    from so101.recording.hdf5_export import dataset_name

    with h5py.File(exported / "episode_0.hdf5") as file:
        assert file.attrs["source"] == TINY_REPO_ID and file.attrs["source_root"] == str(tiny_dataset.resolve())
    # Only --dataset.root: the name the recording kept in meta/so101/recording.json, not the option's default.
    output = tmp_path / "by_root"
    assert main(["--dataset.root", str(tiny_dataset), "--output", str(output), "--episodes", "[1]"]) == 0
    with h5py.File(output / "episode_1.hdf5") as file:
        assert file.attrs["source"] == TINY_REPO_ID
    assert dataset_name(DatasetRef(repo_id="me/other", root=tiny_dataset)) == "me/other"  # given: it wins
    assert dataset_name(DatasetRef(root=tmp_path)) is None  # nothing says (a lerobot-record dataset)


def test_pad_to_writes_equal_lengths_marking_the_copies_of_the_last_frame(tiny_dataset: Path, tmp_path: Path) -> None:
    output = tmp_path / "padded"
    assert main(["--dataset.root", str(tiny_dataset), "--output", str(output), "--episodes", "[0, 2]",
                 "--pad_to", "50"]) == 0  # fmt: skip
    with h5py.File(exported_file := output / "episode_2.hdf5") as file:
        qpos, qvel, action = file["observations/qpos"][()], file["observations/qvel"][()], file["action"][()]
        images, is_pad = file["observations/images/wrist_cam"][()], file["is_pad"][()]
        assert file.attrs["episode_len"] == 40
    assert qpos.shape == action.shape == qvel.shape == (50, 6) and images.shape == (50, 96, 128, 3)
    assert is_pad.dtype == bool and not is_pad[:40].any() and is_pad[40:].all()
    for values in (qpos, action, images):
        assert (values[40:] == values[39]).all()
    assert not qvel[40:].any() and qvel[:40].any()
    # What ACT's original loader does with the files (get_norm_stats): stack every episode's arrays.
    stacked = []
    for path in sorted(output.glob("episode_*.hdf5")):
        with h5py.File(path) as file:
            stacked.append(file["observations/qpos"][()])
    assert np.stack(stacked).shape == (2, 50, 6)
    with h5py.File(exported_file) as file, h5py.File(output / "episode_0.hdf5") as other:
        assert not np.array_equal(file["action"][()], other["action"][()])


def test_pad_to_shorter_than_an_episode_is_refused_before_writing(tiny_dataset: Path, tmp_path: Path) -> None:
    refusal = r"--pad_to 30: episode 0 of .* has 40 frames \(episodes longer than 30: \[0, 1\]\); give --pad_to 40"
    with pytest.raises(So101Error, match=refusal):
        export_hdf5(tiny_dataset, tmp_path / "short", TINY_REPO_ID, [0, 1], pad_to=30)
    assert not (tmp_path / "short").exists()


def _export_killed(tiny_dataset: Path, output: Path, crash_at: str) -> subprocess.CompletedProcess:
    argv = ["dataset", "export-hdf5", "--dataset.root", str(tiny_dataset), "--output", str(output)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "SO101_CRASH_AT": crash_at}
    return subprocess.run(
        [sys.executable, "-m", "so101", *argv], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=600
    )


def test_into_an_existing_folder_a_killed_export_leaves_no_file_and_the_rerun_writes_all(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    output = tmp_path / "hdf5"
    output.mkdir()
    (output / "notes.txt").write_text("the user's")
    killed = _export_killed(tiny_dataset, output, "derived:staged:1")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    # Every file complete in the staging folder, none moved in: nothing to take for a finished export.
    assert sorted(p.name for p in output.iterdir()) == [".so101-export-staging", "notes.txt"]
    rerun = _export_killed(tiny_dataset, output, "")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"removed {output / '.so101-export-staging'}, the unfinished files of an export" in rerun.stdout
    assert sorted(p.name for p in output.iterdir()) == [*[f"episode_{i}.hdf5" for i in range(4)], "notes.txt"]


def test_an_export_killed_while_moving_its_files_in_is_completed_by_the_rerun(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    output = tmp_path / "hdf5"
    output.mkdir()
    killed = _export_killed(tiny_dataset, output, "derived:moved:1")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert len(list(output.glob("episode_*.hdf5"))) == 1
    rerun = _export_killed(tiny_dataset, output, "")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "moved in 4 complete file(s) of an export killed while moving them" in rerun.stdout
    files = sorted(output.iterdir())
    assert [p.name for p in files] == [f"episode_{i}.hdf5" for i in range(4)]
    for index, path in enumerate(files):
        with h5py.File(path) as file:
            assert file.attrs["episode_index"] == index and file["action"].shape == (40, 6)
