"""``so101 dataset delete-episodes``: LeRobot removes the episodes, the scenes follow, and replay stays right."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import TINY_REPO_ID

from so101.recording.dataset_edit import main, renumbered_scenes
from so101.recording.dataset_tools import validate
from so101.recording.scene_metadata import SceneMetadata


@pytest.fixture
def dataset(tiny_dataset: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_dataset, tmp_path / "pick"))


def seeds(root: Path) -> list[int | None]:
    return [record.placement.seed for record in SceneMetadata(root).episodes()]


def test_scenes_follow_the_kept_episodes_to_their_new_indices(dataset: Path) -> None:
    records = SceneMetadata(dataset).episodes()
    kept = renumbered_scenes(records, {1, 3})
    assert [r.episode_index for r in kept] == [0, 1]
    assert [r.placement.seed for r in kept] == [records[0].placement.seed, records[2].placement.seed]


def test_writes_a_new_dataset_that_validates_and_leaves_the_original(dataset: Path, tmp_path: Path, capsys) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    before = seeds(dataset)
    output = tmp_path / "clean"
    argv = ["--dataset.root", str(dataset), "--dataset.repo_id", TINY_REPO_ID, "--episodes", "[1, 3]"]
    assert main([*argv, "--output", str(output)]) == 0
    assert "holds 2 episode(s)" in capsys.readouterr().out
    assert LeRobotDataset(TINY_REPO_ID, root=output).meta.total_episodes == 2
    assert seeds(output) == [before[0], before[2]]
    assert validate(output, TINY_REPO_ID) == []  # re-simulates each kept episode in its own scene
    assert seeds(dataset) == before


def test_without_output_the_original_becomes_a_backup(dataset: Path, capsys) -> None:
    before = seeds(dataset)
    assert main(["--dataset.root", str(dataset), "--dataset.repo_id", TINY_REPO_ID, "--episodes", "[0]"]) == 0
    (backup,) = dataset.parent.glob("pick.backup-*")
    assert seeds(backup) == before and seeds(dataset) == before[1:]
    assert str(backup) in capsys.readouterr().out


def test_names_episodes_the_dataset_lacks(dataset: Path, capsys) -> None:
    assert main(["--dataset.root", str(dataset), "--dataset.repo_id", TINY_REPO_ID, "--episodes", "[7]"]) == 2
    err = capsys.readouterr().err
    assert "--episodes [7]" in err and "0..3" in err and len(err.strip().splitlines()) == 1
