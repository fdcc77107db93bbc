"""``so101 dataset restore-scenes``: the scenes LeRobot's own dataset tools leave out come back, episode by episode."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from so101.errors import So101Error
from so101.recording.dataset_edit import delete_episodes as workbench_delete
from so101.recording.dataset_tools import unchecked, validate
from so101.recording.replay import load_episodes
from so101.recording.scene_metadata import SceneMetadata
from so101.recording.scene_restore import main, restore_scenes

TINY_REPO_ID = "test/so101_scripted"


def lerobot_delete_in_place(root: Path, episodes: list[int]) -> Path:
    """What ``lerobot-edit-dataset --operation.type delete_episodes`` does without a new repo id: the original moves
    to ``<root>_old`` and LeRobot's ``delete_episodes`` writes the result at ``root``."""
    from lerobot.datasets.dataset_tools import delete_episodes
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    old = root.with_name(root.name + "_old")
    root.rename(old)
    delete_episodes(LeRobotDataset(TINY_REPO_ID, root=old), episodes, output_dir=root, repo_id=TINY_REPO_ID)
    return old


def test_scenes_dropped_by_lerobots_delete_episodes_come_back_and_re_simulate(
    tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "pick"
    shutil.copytree(tiny_dataset, root)
    old = lerobot_delete_in_place(root, [1])
    # What LeRobot's tool leaves: a dataset that opens and validates, without the workbench's scenes.
    assert not (root / "meta" / "so101").exists()
    assert validate(root, TINY_REPO_ID, resimulate=False) == []
    note = unchecked(root)[0]
    assert "lerobot-edit-dataset" in note and "replay needs the scenes" in note
    assert f"restore-scenes --dataset.root {root} brings them back from {old}" in note
    with pytest.raises(FileNotFoundError, match="restore-scenes"):
        load_episodes(root)

    assert main(["--dataset.root", str(root)]) == 0  # the original found as <root>_old
    assert "3 episode(s)" in capsys.readouterr().out
    original = {record.episode_index: record for record in SceneMetadata(old).episodes()}
    restored = SceneMetadata(root).episodes()
    assert [r.episode_index for r in restored] == [0, 1, 2]
    assert [r.placement for r in restored] == [original[i].placement for i in (0, 2, 3)]
    assert all(s["scenes_restored_from"] == str(old) for s in SceneMetadata(root).sessions())
    # The proof that each scene is its episode's: every episode re-simulates to its recorded joints.
    assert validate(root, TINY_REPO_ID, resimulate=True) == [] and unchecked(root) == []
    with pytest.raises(So101Error, match="has its scenes already"):
        restore_scenes(root, [old])


def test_episodes_no_original_holds_are_named_and_nothing_is_written(tiny_dataset: Path, tmp_path: Path) -> None:
    without_last = tmp_path / "without_last"  # a workbench dataset of episodes 0..2, with its scenes
    workbench_delete(tiny_dataset, TINY_REPO_ID, [3], without_last)
    root = tmp_path / "pick"
    shutil.copytree(tiny_dataset, root)
    lerobot_delete_in_place(root, [1])  # holds episodes 0, 2, 3 as 0, 1, 2
    with pytest.raises(So101Error, match=r"episodes \[2\] of .* hold frames that no episode of .*without_last"):
        restore_scenes(root, [without_last])
    assert main(["--dataset.root", str(root), "--originals", f"[{without_last}]"]) == 2
    assert not (root / "meta" / "so101").exists()
    with pytest.raises(So101Error, match="does not hold one scene per episode"):
        restore_scenes(root, [root])
