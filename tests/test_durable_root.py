"""The versioned dataset folder: staging shares written-once files, commits are whole, interrupted ones recover."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from so101.recording import durable_root
from so101.recording.durable_root import DurableRoot, work_dir


def make_version(root: Path) -> None:
    (root / "data" / "chunk-000").mkdir(parents=True)
    (root / "data" / "chunk-000" / "file-000.parquet").write_text("frames 0")
    (root / "meta" / "so101").mkdir(parents=True)
    (root / "meta" / "info.json").write_text('{"total_episodes": 1}')
    (root / "meta" / "so101" / "episodes.jsonl").write_text("scene 0\n")


def test_staging_links_written_once_files_and_copies_rewritten_ones(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make_version(root)
    staged = DurableRoot(root).stage()
    data = Path("data/chunk-000/file-000.parquet")
    assert os.path.samefile(staged / data, root / data)
    assert not os.path.samefile(staged / "meta/info.json", root / "meta/info.json")
    # Appending to the staged scene file leaves the committed one as it was.
    with open(staged / "meta/so101/episodes.jsonl", "a") as stream:
        stream.write("scene 1\n")
    assert (root / "meta/so101/episodes.jsonl").read_text() == "scene 0\n"


@pytest.mark.parametrize("atomic_exchange", [True, False])
def test_commit_replaces_the_folder_whole(tmp_path: Path, monkeypatch, atomic_exchange: bool) -> None:
    if not atomic_exchange:
        monkeypatch.setattr(durable_root, "exchange", lambda a, b: False)
    root = tmp_path / "d"
    make_version(root)
    versions = DurableRoot(root)
    versions.begin()
    staged = versions.stage()
    (staged / "meta" / "info.json").write_text('{"total_episodes": 2}')
    versions.commit()
    assert (root / "meta" / "info.json").read_text() == '{"total_episodes": 2}'
    assert (root / "data/chunk-000/file-000.parquet").read_text() == "frames 0"
    assert not versions.next.exists()
    versions.close()
    assert not work_dir(root).exists()


def test_the_first_commit_creates_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "d"
    versions = DurableRoot(root)
    make_version(versions.next)
    versions.commit()
    assert (root / "meta" / "info.json").is_file() and not versions.next.exists()


def test_recover_completes_a_commit_cut_between_its_two_renames(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make_version(root)
    versions = DurableRoot(root)
    staged = versions.stage()
    (staged / "meta" / "info.json").write_text('{"total_episodes": 2}')
    # The state after "root -> old", before "next -> root" of a commit by renames.
    (versions.work / "committing").touch()
    os.rename(root, versions.work / "old")
    assert versions.recover() == []
    assert (root / "meta" / "info.json").read_text() == '{"total_episodes": 2}'
    assert not versions.work.exists()


def test_recover_names_and_removes_unsaved_work(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make_version(root)
    versions = DurableRoot(root)
    versions.begin()
    (versions.stream / "tmp1").mkdir()
    (versions.stream / "tmp1" / "cam_streaming.mp4").write_bytes(b"partial")
    versions.stage()
    removed = versions.recover()
    assert removed == ["the videos of an episode in progress", "an episode that was being saved"]
    assert not versions.work.exists() and (root / "meta" / "info.json").is_file()
