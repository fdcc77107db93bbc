"""Content hashes: ``record`` writes the SHA-256 of every episode's data and video files at save, in the workbench's
own ``meta/so101``; they match the files, a derived dataset's are computed the same way, and a changed file is found.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from so101.recording.content_hashes import HASHES_FILE, episode_files, mismatches, recorded, sha256, write_all


def test_record_writes_one_line_per_episode_naming_its_data_and_videos(tiny_dataset: Path) -> None:
    lines = [json.loads(line) for line in (tiny_dataset / HASHES_FILE).read_text().splitlines()]
    assert [line["episode_index"] for line in lines] == [0, 1, 2, 3]
    for line in lines:
        names = sorted(line["sha256"])
        assert len(names) == 3 and sum(name.startswith("data/") for name in names) == 1, names
        assert all(sha256(tiny_dataset / name) == digest for name, digest in line["sha256"].items())
    assert mismatches(tiny_dataset) == []
    # LeRobot's own files do not mention it: stock LeRobot reads the dataset as before.
    assert "content_hashes" not in (tiny_dataset / "meta" / "info.json").read_text()


def test_a_derived_dataset_gets_the_digests_record_would_have_written(tiny_dataset: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(tiny_dataset, tmp_path / "copy"))
    (root / HASHES_FILE).unlink()
    write_all(root)
    assert (root / HASHES_FILE).read_text() == (tiny_dataset / HASHES_FILE).read_text()


def test_a_changed_file_is_named_with_its_episodes(tiny_dataset: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(tiny_dataset, tmp_path / "copy"))
    info = json.loads((root / "meta" / "info.json").read_text())
    row = {"episode_index": 2, "data/chunk_index": 0, "data/file_index": 2} | {
        f"videos/{key}/{field}": 0 if field == "chunk_index" else 2
        for key in ("observation.images.overhead_cam", "observation.images.wrist_cam")
        for field in ("chunk_index", "file_index")
    }
    data, *videos = episode_files(info, row)
    path = root / videos[0]
    path.write_bytes(path.read_bytes()[:-1] + bytes([path.read_bytes()[-1] ^ 1]))  # one bit
    assert mismatches(root) == [(videos[0], [2])]
    assert mismatches(root, videos=False) == []
    (root / data).write_bytes((root / data).read_bytes() + b"\0")
    assert mismatches(root, videos=False) == [(data, [2])]


def test_a_damaged_hashes_file_is_refused(tiny_dataset: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(tiny_dataset, tmp_path / "copy"))
    (root / HASHES_FILE).write_text('{"episode_index": 0, "sha256": {"data/x.parquet": "00"}}\n[1, 2]\n')
    with pytest.raises(ValueError, match="line 2"):
        recorded(root)
