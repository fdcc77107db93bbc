"""``so101 dataset restore-scenes``: bring back the scenes of a dataset that LeRobot's own tools rewrote.

    so101 dataset restore-scenes --dataset.root data/pick        # edited in place: the original is data/pick_old
    so101 dataset restore-scenes --dataset.root data/pick_train --originals "[data/pick]"

``lerobot-edit-dataset`` (delete_episodes, split, merge) writes a new dataset from LeRobot's files only: the
workbench's ``meta/so101`` (sessions and per-episode scenes) is not copied. The new dataset still opens, trains and
validates (with a note), but ``so101 replay`` and ``validate``'s re-simulation need each episode's scene. LeRobot's
tools copy every frame unchanged, so each episode is matched to the original episode holding the same frames
(``observation.state`` and ``action``, byte for byte, in order: an episode recorded twice from the same seed matches
its first unused copy), and its scene and session come back under its new index. Edited in place, the original is
``<root>_old`` (where ``lerobot-edit-dataset`` moves it); otherwise name it with ``--originals``. Nothing is written
unless every episode is matched: a scene file covering only some episodes would make ``validate`` fail.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from so101.command import run_command
from so101.errors import DatasetError
from so101.recording.content_hashes import write_all
from so101.recording.dataset_checks import check_openable
from so101.recording.dataset_lock import DatasetLock
from so101.recording.dataset_writer import DatasetRef
from so101.recording.scene_metadata import EpisodeRecord, SceneMetadata

MATCHED_KEYS = ("observation.state", "action")
"""The columns an episode is recognised by (LeRobot's dataset tools copy them unchanged)."""
RESTORED_FROM = "scenes_restored_from"
"""Session key naming the dataset a restored session came from."""


@dataclass
class RestoreConfig:
    """Options of ``so101 dataset restore-scenes``."""

    dataset: DatasetRef = field(default_factory=DatasetRef)
    """The dataset without scenes, as a LeRobot tool wrote it (``--dataset.root``); only ``meta/so101`` is added."""
    originals: list[Path] = field(default_factory=list)
    """The workbench datasets it was made from, with their scenes: ``--originals "[data/pick]"``; default:
    ``<dataset.root>_old``, where ``lerobot-edit-dataset`` keeps the original of an in-place edit."""


def episode_fingerprints(root: Path) -> dict[int, str]:
    """Episode index -> a digest of its frames (``MATCHED_KEYS`` in frame order) for the dataset at ``root``."""
    import pyarrow.parquet as pq

    digests: dict[int, str] = {}
    for path in sorted((root / "data").glob("*/*.parquet")):
        table = pq.read_table(path, columns=["episode_index", "frame_index", *MATCHED_KEYS]).to_pandas()
        for episode, rows in table.groupby("episode_index", sort=False):
            rows = rows.sort_values("frame_index")
            digest = hashlib.sha256()
            for key in MATCHED_KEYS:
                digest.update(np.ascontiguousarray(np.stack(rows[key].to_numpy()), dtype=np.float32).tobytes())
            digests[int(episode)] = digest.hexdigest()
    return digests


def default_originals(root: Path) -> list[Path]:
    """``<root>_old`` when it holds scenes (``lerobot-edit-dataset``'s copy of an original edited in place)."""
    old = root.with_name(root.name + "_old")
    return [old] if SceneMetadata(old).exists() else []


def restore_scenes(root: Path, originals: list[Path]) -> tuple[list[dict], list[EpisodeRecord]]:
    """The sessions and scene records of ``root``'s episodes, matched to the episodes of ``originals``.

    Raises:
        DatasetError: ``root`` has scenes already, an original has none or not one per episode, or an episode of
            ``root`` matches no episode of the originals.
    """
    if SceneMetadata(root).exists():
        raise DatasetError(f"{root} has its scenes already ({SceneMetadata(root).recording_path}); nothing to restore")
    if not originals:
        raise DatasetError(
            f"no original dataset to take {root}'s scenes from ({root.name}_old, where lerobot-edit-dataset keeps "
            'the original of an in-place edit, does not exist): give it with --originals "[data/pick]"'
        )
    check_openable(root, "--dataset.root")
    candidates: dict[str, deque[tuple[int, EpisodeRecord]]] = {}
    sessions_of: list[list[dict]] = []
    for number, original in enumerate(originals):
        info = check_openable(original, "--originals")
        metadata = SceneMetadata(original)
        records = {record.episode_index: record for record in metadata.episodes()}
        if not metadata.exists() or sorted(records) != list(range(info["total_episodes"])):
            raise DatasetError(
                f"--originals {original} does not hold one scene per episode in {metadata.episodes_path.name} (a "
                "dataset of lerobot-record, a deployment or an import has none); give the workbench dataset the "
                "edited one was made from"
            )
        sessions_of.append(metadata.sessions())
        for index, digest in sorted(episode_fingerprints(original).items()):
            candidates.setdefault(digest, deque()).append((number, records[index]))
    sessions: list[dict] = []
    new_session: dict[tuple[int, int], int] = {}
    restored: list[EpisodeRecord] = []
    unmatched: list[int] = []
    for index, digest in sorted(episode_fingerprints(root).items()):
        if not candidates.get(digest):
            unmatched.append(index)
            continue
        number, record = candidates[digest].popleft()
        key = (number, record.session)
        if key not in new_session:
            new_session[key] = len(sessions)
            sessions.append({**sessions_of[number][record.session], RESTORED_FROM: str(originals[number])})
        restored.append(
            EpisodeRecord(index, new_session[key], record.placement, record.outcome, record.frames, record.phases)
        )
    if unmatched:
        raise DatasetError(
            f"episodes {unmatched} of {root} hold frames that no episode of {', '.join(map(str, originals))} holds; "
            "give every dataset it was made from with --originals (nothing was written)"
        )
    return sessions, restored


def _restore(cfg: RestoreConfig) -> int:
    root = cfg.dataset.existing_root()
    originals = list(cfg.originals) or default_originals(root)
    with DatasetLock(root, "dataset restore-scenes", create_parent=False):
        sessions, records = restore_scenes(root, originals)
        SceneMetadata(root).write_all(sessions, records)
        # The files as they are now become the ones bit rot is checked against (LeRobot's tool wrote them anew).
        write_all(root)
    print(
        f"dataset restore-scenes: {len(records)} episode(s) of {root} have their scenes again, from "
        f"{', '.join(map(str, originals))}; check with so101 dataset validate --dataset.root {root}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 dataset restore-scenes``."""
    return run_command("dataset restore-scenes", RestoreConfig, _restore, argv)
