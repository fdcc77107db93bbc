"""A dataset replaced in place (``delete-episodes`` without ``--output``): SIGKILLed before the new version takes its
place, the original stays and the rerun redoes the work; killed after, the new version is in place and the rerun
only files the original as the backup, without deleting again. Each state a kill can leave is recovered."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from so101.recording import dataset_replace
from so101.recording.dataset_lock import lock_path
from so101.recording.dataset_replace import InPlaceReplacement
from so101.recording.staged_output import staging_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMAND = "dataset delete-episodes"


def so101(argv: list[str], crash_at: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "SO101_CRASH_AT": crash_at}
    return subprocess.run(
        [sys.executable, "-m", "so101", *argv], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=600
    )


def episodes(root: Path) -> int:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    return LeRobotDataset("test/so101_scripted", root=root).meta.total_episodes


def version(folder: Path, name: str) -> Path:
    (folder / "meta").mkdir(parents=True)
    (folder / "meta" / "info.json").write_text(name)
    return folder


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.parent.iterdir() if p.name != root.name and ".backup-" not in p.name)


@pytest.mark.parametrize("atomic_exchange", [True, False])
def test_replace_keeps_the_original_as_the_backup(tmp_path: Path, monkeypatch, atomic_exchange: bool) -> None:
    if not atomic_exchange:
        monkeypatch.setattr(dataset_replace, "exchange", lambda a, b: False)
    root = version(tmp_path / "d", "old")
    replacement = InPlaceReplacement(root, COMMAND)
    version(replacement.staging, "new")
    backup = replacement.replace("--episodes [1]")
    assert (root / "meta/info.json").read_text() == "new" and (backup / "meta/info.json").read_text() == "old"
    assert backup.name.startswith("d.backup-") and leftovers(root) == []


@pytest.mark.parametrize("state", ["before the exchange", "after the exchange", "between the two renames"])
def test_recover_finishes_or_undoes_what_a_kill_left(tmp_path: Path, state: str) -> None:
    root = version(tmp_path / "d", "old")
    replacement = InPlaceReplacement(root, COMMAND)
    version(replacement.staging, "new")
    plan = {"backup": "d.backup-1", "inode": os.stat(replacement.staging).st_ino, "request": "--episodes [1]"}
    replacement.marker.write_text(json.dumps(plan))
    if state == "after the exchange":
        os.rename(root, tmp_path / "swap")
        os.rename(replacement.staging, root)
        os.rename(tmp_path / "swap", replacement.staging)
    elif state == "between the two renames":
        os.rename(root, tmp_path / "d.backup-1")
    completed = replacement.recover()
    assert leftovers(root) == []
    if state == "before the exchange":
        assert completed is None and (root / "meta/info.json").read_text() == "old"
        assert not (tmp_path / "d.backup-1").exists()
    else:
        assert completed == "--episodes [1]" and (root / "meta/info.json").read_text() == "new"
        assert (tmp_path / "d.backup-1" / "meta/info.json").read_text() == "old"


@pytest.mark.parametrize("point", ["derived:staged", "derived:exchanged"])
def test_delete_in_place_killed_leaves_a_whole_dataset_and_the_rerun_deletes_once(
    point: str, tiny_dataset: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tiny"
    shutil.copytree(tiny_dataset, root)
    argv = ["dataset", "delete-episodes", "--dataset.root", str(root), "--episodes", "[1]"]
    killed = so101(argv, f"{point}:1")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    # The original before the exchange, the new version after it: whole either way.
    assert episodes(root) == (4 if point == "derived:staged" else 3)
    assert staging_dir(root).is_dir()
    rerun = so101(argv)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    if point == "derived:staged":
        assert f"removed {staging_dir(root)}, the output of a run killed before it replaced {root}" in rerun.stdout
    else:
        assert f"completed the replacement of {root} by a run that was killed (--episodes [1])" in rerun.stdout
    assert episodes(root) == 3  # episode 1 deleted once, not twice
    backups = sorted(tmp_path.glob("tiny.backup-*"))
    assert len(backups) == 1 and episodes(backups[0]) == 4
    assert leftovers(root) == [] and not lock_path(root).exists()
