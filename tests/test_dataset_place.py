"""A dataset place that cannot be written is refused before any work, in one line naming the fix: a symlink loop
(``record`` would otherwise record a whole episode and lose it), and a read-only filesystem (``record --resume``,
``delete-episodes``, ``repair``). Root ignores permission bits, so read-only is a tmpfs remounted read-only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from so101.errors import DatasetError
from so101.recording.dataset_place import check_writable_place, symlink_loop, unwritable

REPO_ROOT = Path(__file__).resolve().parents[1]


def so101(argv: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "so101", *argv], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=600
    )


def read_only(mount: Path) -> None:
    made = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True)
    assert made.returncode == 0, made.stderr


@pytest.fixture
def loop(tmp_path: Path) -> Path:
    """``a -> b``, ``b -> a``: a link that loops back on itself."""
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    return tmp_path / "a"


def test_a_symlink_loop_is_found_in_the_path_or_its_parents(loop: Path, tmp_path: Path) -> None:
    assert symlink_loop(loop) == loop
    assert symlink_loop(loop / "dataset") == loop
    assert symlink_loop(tmp_path / "missing" / "dataset") is None
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert symlink_loop(tmp_path / "link" / "dataset") is None
    with pytest.raises(DatasetError, match=r"loops back on itself; point it at a real folder \(ln -sfn FOLDER"):
        check_writable_place(loop / "dataset", "--dataset.root", existing=False)


def test_read_only_is_asked_of_the_kernel_not_of_permission_bits(small_disk: Path, tmp_path: Path) -> None:
    (small_disk / "dataset").mkdir()
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    # Root writes into a folder without write permission: only a read-only mount stops it.
    assert unwritable(locked) == (None if os.geteuid() == 0 else "not writable by this user")
    assert unwritable(small_disk / "dataset") is None
    read_only(small_disk)
    assert unwritable(small_disk / "dataset") == "on a read-only filesystem"
    with pytest.raises(DatasetError, match=r"on a read-only filesystem; give a --output on a writable disk"):
        check_writable_place(small_disk / "new", "--output", existing=False)
    with pytest.raises(DatasetError, match=r"dataset cannot be written: .* read-only filesystem; copy the dataset"):
        check_writable_place(small_disk / "dataset", "--dataset.root", existing=True)


def test_record_into_a_symlink_loop_is_refused_before_the_first_episode(loop: Path) -> None:
    from test_record_durability import record_argv

    refused = so101(record_argv(loop, 1))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "loops back on itself" in lines[0] and "Traceback" not in refused.stderr, lines
    assert "saved as episode" not in refused.stdout


def test_writers_of_a_read_only_dataset_refuse_before_any_work(
    small_disk: Path, tiny_dataset: Path, tmp_path: Path
) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from test_record_durability import record_argv

    root = small_disk / "tiny"
    shutil.copytree(tiny_dataset, root)
    read_only(small_disk)
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    argvs = {
        "record --resume": record_argv(root, 1),
        "delete-episodes": ["dataset", "delete-episodes", "--dataset.root", str(root), "--episodes", "[1]"],
        "repair": ["dataset", "repair", "--dataset.root", str(root)],
    }
    for command, argv in argvs.items():
        refused = so101(argv)
        assert refused.returncode == 2, (command, refused.stdout + refused.stderr)
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in refused.stderr, (command, lines)
        assert "cannot be written" in lines[0] and "on a read-only filesystem" in lines[0], (command, lines)
        assert "saved as episode" not in refused.stdout
        if command == "delete-episodes":
            assert "or write the result elsewhere with --output NEW_FOLDER" in lines[0]
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == before
    # Read-only sources are read: the result written elsewhere.
    out = tmp_path / "out"
    written = so101([*argvs["delete-episodes"], "--output", str(out)])
    assert written.returncode == 0, written.stdout + written.stderr
    assert LeRobotDataset("test/so101_scripted", root=out).meta.total_episodes == 3
