"""Hostile datasets: every command that reads a dataset stops with one line naming the file, the problem and the fix.

Each case corrupts a copy of the tiny recorded dataset in one way. ``dataset validate``, ``dataset info``,
``replay``, ``record --resume`` and training's dataset-open step (``DatasetRef.metadata``) must each exit 2 with one
line on stderr that names the damaged file (relative to the dataset), never a traceback, and must leave every byte
of the folder as it was.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_REPO_ID

from so101.cli import main as so101_main
from so101.errors import So101Error
from so101.recording.dataset_writer import DatasetRef

VIDEO = Path("videos/observation.images.wrist_cam/chunk-000/file-002.mp4")
DATA = Path("data/chunk-000/file-001.parquet")
EPISODES = Path("meta/episodes/chunk-000/file-000.parquet")
HASHES = Path("meta/so101/content_hashes.jsonl")


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def edit_info(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        info = json.loads((root / "meta/info.json").read_text())
        change(info)
        (root / "meta/info.json").write_text(json.dumps(info))

    return apply


def edit_data(change: Callable[[pd.DataFrame], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        frame = pd.read_parquet(root / DATA)
        change(frame)
        frame.to_parquet(root / DATA)

    return apply


def edit_episodes(change: Callable[[pd.DataFrame], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        frame = pd.read_parquet(root / EPISODES)
        change(frame)
        frame.to_parquet(root / EPISODES)

    return apply


def without_hashes(corrupt: Callable[[Path], None]) -> Callable[[Path], None]:
    """The corruption on a dataset without content hashes (an older workbench's, lerobot-record's): the check of
    the content itself must find it, not the changed digest."""

    def apply(root: Path) -> None:
        corrupt(root)
        (root / HASHES).unlink()

    return apply


def flip_bytes(path: Path, start: int, count: int = 300) -> None:
    """Bit rot: ``count`` bytes inverted from ``start`` on, the file's size unchanged."""
    data = bytearray(path.read_bytes())
    data[start : start + count] = bytes(b ^ 0xFF for b in data[start : start + count])
    path.write_bytes(bytes(data))


def edit_stats(root: Path) -> None:
    stats = json.loads((root / "meta/stats.json").read_text())
    stats["action"]["mean"] = stats["action"]["mean"][:5]
    (root / "meta/stats.json").write_text(json.dumps(stats))


def wide_state(frame: pd.DataFrame) -> None:
    frame["observation.state"] = [np.append(np.asarray(v), 0.0).astype(np.float32) for v in frame["observation.state"]]


def nan_action(frame: pd.DataFrame) -> None:
    actions = [np.asarray(v, dtype=np.float32).copy() for v in frame["action"]]
    actions[3][2] = np.nan
    frame["action"] = actions


def empty_folder(root: Path) -> None:
    shutil.rmtree(root)
    root.mkdir()


def foreign_features(info: dict) -> None:
    info["features"] = {
        "observation.state": {"dtype": "float32", "shape": [7], "names": [f"j{i}" for i in range(7)]},
        "action": {"dtype": "float32", "shape": [7], "names": [f"j{i}" for i in range(7)]},
    }


# (name, corruption, the file the message must name)
CASES: list[tuple[str, Callable[[Path], None], str]] = [
    ("empty folder", empty_folder, "meta/info.json"),
    ("truncated data parquet", lambda r: truncate(r / DATA), str(DATA)),
    ("truncated episodes parquet", lambda r: truncate(r / EPISODES), str(EPISODES)),
    ("missing episodes metadata", lambda r: shutil.rmtree(r / "meta/episodes"), "meta/episodes"),
    ("missing data file", lambda r: (r / DATA).unlink(), "data"),
    ("missing video", lambda r: (r / VIDEO).unlink(), str(VIDEO)),
    ("empty video", lambda r: (r / VIDEO).write_bytes(b""), str(VIDEO)),
    ("bad JSON in info.json", lambda r: (r / "meta/info.json").write_text('{"fps": 30,'), "meta/info.json"),
    ("info.json not an object", lambda r: (r / "meta/info.json").write_text("[1, 2]"), "meta/info.json"),
    ("wrong fps in info.json", edit_info(lambda i: i.update(fps=15)), "meta/info.json"),
    ("fps zero in info.json", edit_info(lambda i: i.update(fps=0)), "meta/info.json"),
    ("old codebase version", edit_info(lambda i: i.update(codebase_version="v2.1")), "meta/info.json"),
    ("episode count off", edit_info(lambda i: i.update(total_episodes=5)), "meta/episodes"),
    ("wrong joint names", edit_info(lambda i: i["features"]["action"].update(names=list("abcdef"))), "meta/info.json"),
    ("foreign features", edit_info(foreign_features), "meta/info.json"),
    ("NaN in actions", edit_data(nan_action), str(DATA)),
    ("missing tasks", lambda r: (r / "meta/tasks.parquet").unlink(), "meta/tasks.parquet"),
    ("truncated tasks", lambda r: truncate(r / "meta/tasks.parquet"), "meta/tasks.parquet"),
    ("bad JSON in stats.json", lambda r: (r / "meta/stats.json").write_text("{nan"), "meta/stats.json"),
    ("bad JSON in recording.json", lambda r: (r / "meta/so101/recording.json").write_text("{"), "recording.json"),
    ("bad scene line", lambda r: (r / "meta/so101/episodes.jsonl").write_text('{"x": 1}\n'), "episodes.jsonl"),
    ("stats.json not an object", lambda r: (r / "meta/stats.json").write_text("[]"), "meta/stats.json"),
    ("stats.json of another width", edit_stats, "meta/stats.json"),
    ("dataset_to_index past the end", edit_episodes(lambda f: f.update({"dataset_to_index": [10_000]})), str(EPISODES)),
    ("episode length off", edit_episodes(lambda f: f.update({"length": [39]})), str(EPISODES)),
    ("episode listed twice", edit_episodes(lambda f: f.update({"episode_index": [3]})), "meta/episodes"),
    ("empty recording.json", lambda r: (r / "meta/so101/recording.json").write_text(""), "recording.json"),
    ("recording.json without sessions", lambda r: (r / "meta/so101/recording.json").write_text("{}"), "recording.json"),
    ("recording.json a list", lambda r: (r / "meta/so101/recording.json").write_text("[]"), "recording.json"),
    ("7-wide state", without_hashes(edit_data(wide_state)), str(DATA)),
    ("NaN in actions, no content hashes", without_hashes(edit_data(nan_action)), str(DATA)),
    ("bit flip in a data page", lambda r: flip_bytes(r / DATA, 200), str(DATA)),
    ("data file of another episode", lambda r: shutil.copy(r / DATA.with_stem("file-002"), r / DATA), str(DATA)),
    ("bad content hashes line", lambda r: (r / HASHES).write_text("{not json\n"), str(HASHES)),
]


def folder_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def commands(root: Path) -> dict[str, list[str]]:
    dataset = ["--dataset.root", str(root), "--dataset.repo_id", TINY_REPO_ID]
    return {
        "validate": ["dataset", "validate", *dataset],
        "info": ["dataset", "info", *dataset],
        "replay": ["replay", *dataset, "--episode", "0"],
        "record --resume": [
            "record", *dataset, "--resume", "true", "--episodes", "1", "--cameras.width", "128",
            "--cameras.height", "96", "--keep_failed", "true", "--episode_time_s", "0.2",
        ],
    }


@pytest.mark.parametrize(("name", "corrupt", "named"), CASES, ids=[case[0] for case in CASES])
def test_every_command_names_the_damaged_file_and_modifies_nothing(
    name: str, corrupt: Callable[[Path], None], named: str, tiny_dataset: Path, tmp_path: Path, capsys
) -> None:
    root = Path(shutil.copytree(tiny_dataset, tmp_path / "dataset"))
    corrupt(root)
    before = folder_hash(root)
    for command, argv in commands(root).items():
        status = so101_main(argv)
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert status == 2 and len(lines) == 1, f"{command} on {name}: exit {status}\n{captured.err}{captured.out}"
        assert named in lines[0] and "Traceback" not in captured.err, f"{command} on {name}: {lines[0]}"
        assert folder_hash(root) == before, f"{command} modified the dataset ({name})"
    # Training opens its dataset through DatasetRef before anything else.
    with pytest.raises(So101Error, match=named.replace(".", r"\.")):
        DatasetRef(TINY_REPO_ID, root).metadata()
    assert folder_hash(root) == before


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 34
