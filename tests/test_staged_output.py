"""Derived datasets appear whole or not at all: the staging folder itself, and every command that makes a dataset
out of others killed (SIGKILL, ``so101.recording.crash_points``) with its output complete but not yet moved into place:
no output folder is left, and the rerun removes the dead run's staging folder, says so, and completes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from so101.recording.dataset_lock import DatasetBusy, DatasetLock, lock_path
from so101.recording.staged_output import StagedOutput, staging_dir

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_the_output_appears_by_one_rename_on_commit(tmp_path: Path) -> None:
    output = StagedOutput(tmp_path / "out", "dataset merge", "--output.root")
    with output as staging:
        assert staging == staging_dir(tmp_path / "out") and staging.name == ".out.so101-staging"
        staging.mkdir()
        (staging / "info.json").write_text("{}")
        assert not (tmp_path / "out").exists()
        output.commit()
    assert (tmp_path / "out" / "info.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failure_before_the_commit_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="half way"), StagedOutput(tmp_path / "out", "convert-ee", "--dst.root") as s:
        s.mkdir()
        (s / "data.parquet").write_bytes(b"half")
        raise RuntimeError("half way")
    assert list(tmp_path.iterdir()) == []


def test_leftovers_are_removed_only_when_their_writer_is_dead(tmp_path: Path, capsys) -> None:
    leftover = staging_dir(tmp_path / "out")
    leftover.mkdir()
    (leftover / "episode.parquet").write_bytes(b"of a live run")
    # A live writer holds the lock: its staging folder is not touched.
    with DatasetLock(tmp_path / "out", "dataset merge"), pytest.raises(DatasetBusy):
        StagedOutput(tmp_path / "out", "dataset merge", "--output.root").__enter__()
    assert (leftover / "episode.parquet").exists()
    # No one holds it: what is there was left by a run that was killed.
    with StagedOutput(tmp_path / "out", "dataset merge", "--output.root") as staging:
        assert not staging.exists()
    said = capsys.readouterr().out
    assert f"dataset merge: removed {leftover}, the unfinished output of a run that was killed" in said
    assert not lock_path(tmp_path / "out").exists()


def test_an_existing_output_is_refused_and_kept(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError, match=r"--output\.root .* exists already"):
        StagedOutput(tmp_path / "out", "dataset merge", "--output.root").__enter__()
    assert (tmp_path / "out").is_dir() and not lock_path(tmp_path / "out").exists()


def so101(argv: list[str], crash_at: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "SO101_CRASH_AT": crash_at}
    return subprocess.run(
        [sys.executable, "-m", "so101", *argv], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=600
    )


@pytest.fixture(scope="module")
def hdf5_files(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from so101.recording.hdf5_export import main as export

    folder = tmp_path_factory.mktemp("hdf5") / "episodes"
    assert export(["--dataset.root", str(tiny_dataset), "--output", str(folder), "--episodes", "[0, 1]"]) == 0
    return folder


COMMANDS = {
    "merge": ["dataset", "merge", "--roots", "[{src}, {src}]", "--output.root", "{out}"],
    "delete-episodes": ["dataset", "delete-episodes", "--dataset.root", "{src}", "--episodes", "[1]", "--output",
                        "{out}"],
    "repair": ["dataset", "repair", "--dataset.root", "{src}", "--output", "{out}"],
    "convert-ee": ["convert-ee", "--src.root", "{src}", "--dst.root", "{out}", "--verify", "false"],
    "import-hdf5": ["dataset", "import-hdf5", "--input", "{hdf5}", "--dataset.root", "{out}"],
    "export-hdf5": ["dataset", "export-hdf5", "--dataset.root", "{src}", "--output", "{out}"],
}  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_a_derived_dataset_killed_before_it_is_in_place_leaves_no_output(
    command: str, tiny_dataset: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from so101.recording.dataset_tools import validate

    hdf5 = request.getfixturevalue("hdf5_files") if command == "import-hdf5" else None
    out = tmp_path / "out"
    argv = [arg.format(src=tiny_dataset, out=out, hdf5=hdf5) for arg in COMMANDS[command]]
    killed = so101(argv, "derived:staged:1")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    # Complete in its staging folder, but not in place: there is no output to mistake for a finished one.
    assert not out.exists() and staging_dir(out).is_dir()
    rerun = so101(argv)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"removed {staging_dir(out)}, the unfinished output of a run that was killed" in rerun.stdout
    assert not staging_dir(out).exists() and not lock_path(out).exists()
    if command == "export-hdf5":
        assert sorted(p.name for p in out.iterdir()) == [f"episode_{i}.hdf5" for i in range(4)]
        return
    expected = {"merge": 8, "delete-episodes": 3, "repair": 4, "convert-ee": 4, "import-hdf5": 2}[command]
    assert LeRobotDataset("test/out", root=out).meta.total_episodes == expected
    if command != "convert-ee":  # validate checks joint-space datasets
        assert validate(out, "test/out", resimulate=False) == []


KNOWN_SIZE = {"merge", "convert-ee", "export-hdf5"}
"""Commands that know their output's size beforehand: a disk without room refuses them before any work."""


@pytest.mark.parametrize("command", COMMANDS)
def test_a_full_disk_ends_a_derived_dataset_in_one_line_leaving_nothing(
    command: str, tiny_dataset: Path, small_disk: Path, request: pytest.FixtureRequest
) -> None:
    from test_disk_space import fill

    hdf5 = request.getfixturevalue("hdf5_files") if command == "import-hdf5" else None
    src, out = tiny_dataset, small_disk / "out"
    if command == "delete-episodes":  # in place: the dataset itself is on the full disk
        src, out = small_disk / "tiny", None
        shutil.copytree(tiny_dataset, src)
    argv = [arg.format(src=src, out=out, hdf5=hdf5) for arg in COMMANDS[command]]
    if out is None:
        argv = argv[: argv.index("--output")]
    fill(small_disk, leave=64 * 1024)
    full = so101(argv)
    assert full.returncode == 2, full.stdout + full.stderr
    assert "Traceback" not in full.stderr
    line = full.stderr.strip().splitlines()[-1]
    assert line.startswith("so101 ") and f"{command}: " in line and "on another disk" in line, line
    if command in KNOWN_SIZE:
        assert f"{out}: its disk has" in line and "kB free" in line and "needs about" in line, line
    else:
        assert f"the disk holding {small_disk} is full" in line and "needs more than the" in line, line
        assert "is free; what was written is removed" in line, line
    # Nothing half-written: no output, no staging folder, no lock; an edited dataset is the original.
    expected = ["filler", "tiny"] if command == "delete-episodes" else ["filler"]
    assert sorted(p.name for p in small_disk.iterdir()) == expected
    if command == "delete-episodes":
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        assert LeRobotDataset("test/out", root=src).meta.total_episodes == 4


def test_an_import_killed_after_its_first_episode_leaves_no_dataset(hdf5_files: Path, tmp_path: Path) -> None:
    """Mid-way, not at the commit: killed once the first of 2 episodes is saved into the staging folder."""
    out = tmp_path / "out"
    argv = [arg.format(hdf5=hdf5_files, out=out) for arg in COMMANDS["import-hdf5"]]
    killed = so101(argv, "save:committed:1")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert not out.exists() and (staging_dir(out) / "meta" / "info.json").is_file()
    rerun = so101(argv)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"removed {staging_dir(out)}, the unfinished output of a run that was killed" in rerun.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
