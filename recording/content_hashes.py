"""SHA-256 of every episode's data and video files, written when the episode is saved, to detect silent bit rot.

A flipped bit inside a parquet data page or a video frame leaves a file that opens, lists the right number of rows
or frames, and holds wrong numbers or pixels: nothing in LeRobot's files can tell. The workbench keeps, beside its
scenes, ``meta/so101/content_hashes.jsonl``: one JSON object per episode,
``{"episode_index": i, "sha256": {"<file relative to the dataset>": "<hex digest>", ...}}`` naming the data file
and each camera's video file the episode lives in. LeRobot ignores the file (stock LeRobot reads the dataset as
before); ``record`` appends the episode's line in the same atomic commit as the episode, and the commands that
write a derived dataset (merge, convert-ee, delete-episodes, repair) write the file whole for their output.

``mismatches`` compares the files with their digests: ``check_openable`` checks the data files (small, read
anyway), ``dataset validate`` and ``dataset repair`` every file. A dataset without the file (recorded by an older
workbench or by ``lerobot-record``) is not checked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from so101.recording.atomic_file import write_atomic
from so101.recording.scene_metadata import META_DIR

HASHES_FILE = META_DIR / "content_hashes.jsonl"
CHUNK = 1 << 20
"""Bytes read at a time while hashing (1 MiB)."""


def sha256(path: Path) -> str:
    """Hex SHA-256 of the file at ``path``, read in 1 MiB chunks (videos may be large)."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def episode_files(info: dict[str, Any], row: dict[str, Any]) -> list[str]:
    """The data file and the video files (one per camera) of one ``meta/episodes`` row, relative to the dataset."""
    files = [
        info["data_path"].format(chunk_index=int(row["data/chunk_index"]), file_index=int(row["data/file_index"]))
    ]
    for key, feature in info["features"].items():
        if feature["dtype"] == "video":
            files.append(
                info["video_path"].format(
                    video_key=key,
                    chunk_index=int(row[f"videos/{key}/chunk_index"]),
                    file_index=int(row[f"videos/{key}/file_index"]),
                )
            )
    return files


def episode_line(root: Path, info: dict[str, Any], row: dict[str, Any]) -> str:
    """The ``content_hashes.jsonl`` line of the episode whose ``meta/episodes`` row is ``row``."""
    digests = {name: sha256(root / name) for name in episode_files(info, row)}
    return json.dumps({"episode_index": int(row["episode_index"]), "sha256": digests}, sort_keys=True)


def append_episode(root: Path, info: dict[str, Any], row: dict[str, Any]) -> None:
    """Add the digests of the episode just saved into the dataset version at ``root``."""
    path = root / HASHES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as stream:
        stream.write(episode_line(root, info, row) + "\n")


def write_all(root: Path) -> None:
    """Write the digests of every episode of the finished dataset at ``root`` (a derived dataset's output)."""
    import pandas as pd

    info = json.loads((root / "meta" / "info.json").read_text())
    lines = []
    for path in sorted((root / "meta" / "episodes").glob("*/*.parquet")):
        for row in pd.read_parquet(path).to_dict("records"):
            lines.append(episode_line(root, info, row))
    write_atomic(root / HASHES_FILE, "".join(line + "\n" for line in lines))


def recorded(root: Path) -> dict[str, tuple[str, list[int]]]:
    """File (relative to ``root``) -> (its digest at save, the episodes in it); empty without the hashes file.

    Raises:
        ValueError: a line of the file is not an episode's digests.
    """
    path = root / HASHES_FILE
    if not path.is_file():
        return {}
    files: dict[str, tuple[str, list[int]]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            episode, digests = int(entry["episode_index"]), dict(entry["sha256"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"line {number} is not an episode's digests ({error!s:.60})") from None
        for name, digest in digests.items():
            files.setdefault(str(name), (str(digest), []))[1].append(episode)
    return files


def mismatches(root: Path, videos: bool = True) -> list[tuple[str, list[int]]]:
    """Files whose content differs from the digest written at save (``videos=False``: data files only), each with
    the episodes it holds; missing files are left to the checks that name them."""
    found = []
    for name, (digest, episodes) in recorded(root).items():
        path = root / name
        if (not videos and not name.startswith("data/")) or not path.is_file():
            continue
        if sha256(path) != digest:
            found.append((name, sorted(episodes)))
    return found
