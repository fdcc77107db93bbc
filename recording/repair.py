"""``so101 dataset repair``: rebuild a broken dataset from every episode that can be proven complete.

    so101 dataset repair --dataset.root data/pick                  # writes data/pick.repaired
    so101 dataset repair --dataset.root data/pick --output data/pick_fixed

For datasets left broken by older versions or other tools (a kill -9 before LeRobot's finalize, a lost or
truncated file, bit rot). An episode is kept when all of these hold: its data and video files match the SHA-256
written when it was saved (``meta/so101/content_hashes.jsonl``, when the dataset has it), its frames are readable
(frame_index 0..n-1, finite state and action), every camera's video holds its n frames, and
``meta/so101/episodes.jsonl`` holds its scene with n frames (datasets of other tools, such as ``lerobot-record``,
have no ``meta/so101``: no scene is asked of them). The others are dropped, each with the reason. Kept episodes
are written again through LeRobot into a new folder (renumbered from 0; videos re-encoded, statistics recomputed,
image statistics correct whatever LeRobot version wrote the original), with their scenes, sessions and new content
hashes: the original folder is only read. Video timestamps come from ``meta/episodes`` when it is readable; without
it, a camera's video files are taken, in order, as the episodes one after another, as LeRobot 0.4.4 appends them.

Not recoverable: frames of a parquet file without its footer (LeRobot writes the footer at finalize); such a
file's episodes are reported lost.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from so101.command import run_command
from so101.errors import DatasetError
from so101.lerobot_compat import DatasetInternals, correct_image_stats, use_lossless_encoder
from so101.recording.content_hashes import mismatches, write_all
from so101.recording.dataset_checks import read_info
from so101.recording.dataset_writer import DatasetConfig, DatasetRef
from so101.recording.scene_metadata import EpisodeRecord, SceneMetadata
from so101.recording.staged_output import StagedOutput

FLAG = "--dataset.root"


@dataclass
class RepairConfig:
    """Options of ``so101 dataset repair``."""

    dataset: DatasetRef = field(default_factory=DatasetRef)
    """The broken dataset (``--dataset.root``); it is only read."""
    output: Path | None = None
    """Folder of the repaired dataset, which must not exist; default: ``<dataset.root>.repaired``."""


@dataclass
class Survey:
    """What could be read of a broken dataset."""

    info: dict[str, Any]
    frames: dict[int, Any] = field(default_factory=dict)
    """episode index -> its rows (a pandas DataFrame), from the readable data files."""
    lost: list[str] = field(default_factory=list)
    """Unreadable files, each with the reason."""
    episode_rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    """episode index -> its row of ``meta/episodes`` (video files and timestamps), when readable."""
    scenes: dict[int, EpisodeRecord] = field(default_factory=dict)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    workbench: bool = True
    """The dataset has workbench metadata (``meta/so101``): scenes are then required; datasets of other tools
    (``lerobot-record``) have none, and are repaired without."""
    tasks: dict[int, str] = field(default_factory=dict)
    changed: dict[int, str] = field(default_factory=dict)
    """episode index -> a file of it whose SHA-256 differs from the one written at save (bit rot)."""


def survey(root: Path) -> Survey:
    """Read everything readable of the dataset at ``root``."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    result = Survey(read_info(root, FLAG))
    for path in sorted((root / "data").glob("*/*.parquet")):
        try:
            table = pq.read_table(path).to_pandas()
        except (OSError, pa.ArrowException) as error:
            result.lost.append(f"{path.relative_to(root)}: unreadable, its frames are lost ({str(error)[:80]})")
            continue
        for index, rows in table.groupby("episode_index"):
            result.frames[int(index)] = rows.sort_values("frame_index")
    for path in sorted((root / "meta" / "episodes").glob("*/*.parquet")):
        try:
            rows = pq.read_table(path).to_pandas()
        except (OSError, pa.ArrowException) as error:
            result.lost.append(f"{path.relative_to(root)}: unreadable, videos are matched without it ({error!s:.60})")
            continue
        for row in rows.to_dict("records"):
            result.episode_rows[int(row["episode_index"])] = row
    try:
        tasks = pd.read_parquet(root / "meta" / "tasks.parquet")["task_index"]
        result.tasks = {int(index): str(task) for task, index in tasks.items()}
    except (OSError, pa.ArrowException, KeyError) as error:
        result.lost.append(f"meta/tasks.parquet: unreadable, tasks come from the sessions ({error!s:.60})")
    try:
        for name, episodes in mismatches(root):
            result.changed.update({episode: name for episode in episodes if episode not in result.changed})
    except ValueError as error:
        result.lost.append(f"meta/so101/content_hashes.jsonl: unreadable, files are not checked ({error!s:.60})")
    metadata = SceneMetadata(root)
    result.workbench = (root / "meta" / "so101").is_dir()
    try:
        result.sessions = metadata.sessions()
    except (OSError, ValueError, KeyError, TypeError) as error:
        result.lost.append(f"{metadata.recording_path.relative_to(root)}: unreadable ({error!s:.80})")
    if metadata.episodes_path.is_file():
        for line in metadata.episodes_path.read_text(errors="replace").splitlines():
            try:
                record = EpisodeRecord.from_json(line)
            except ValueError:
                continue
            result.scenes[record.episode_index] = record
    return result


class VideoFrames:
    """Frames of one camera's video files, read forward: ``take(path, start_s, count)``."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._frames: Iterator[Any] | None = None
        self._pending: Any = None
        self._container: Any = None

    def take(self, path: Path, start_s: float, count: int, fps: int) -> list[np.ndarray]:
        """Up to ``count`` RGB frames of ``path`` from ``start_s`` on (fewer when the file ends first)."""
        import av

        tolerance = 0.5 / fps
        pending_time = self._pending.time if self._pending is not None else None
        if path != self._path or pending_time is None or pending_time > start_s + tolerance:
            self.close()
            if not path.is_file():
                return []
            try:
                self._container = av.open(str(path))
            except av.error.FFmpegError:
                return []
            self._path = path
            self._frames = self._container.decode(video=0)
            self._pending = None
        out: list[np.ndarray] = []
        try:
            while len(out) < count:
                frame = self._pending if self._pending is not None else next(self._frames)
                self._pending = None
                if frame.time is not None and frame.time < start_s - tolerance:
                    continue
                out.append(frame.to_ndarray(format="rgb24"))
            self._pending = next(self._frames)
        except (StopIteration, av.error.FFmpegError):
            self._pending = None
        return out

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = self._path = self._frames = self._pending = None


def _video_place(root: Path, found: Survey, episode: int, key: str, starts: dict[int, int]) -> tuple[Path, float]:
    """The video file of ``episode``'s camera ``key`` and the episode's first timestamp in it."""
    row = found.episode_rows.get(episode)
    template = found.info.get("video_path", "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4")
    if row is not None and f"videos/{key}/file_index" in row:
        chunk, file = int(row[f"videos/{key}/chunk_index"]), int(row[f"videos/{key}/file_index"])
        return root / template.format(video_key=key, chunk_index=chunk, file_index=file), float(
            row[f"videos/{key}/from_timestamp"]
        )
    # Without meta/episodes: the camera's files, in order, hold the episodes one after another.
    # An unreadable file before the episode hides where it starts: then nothing proves which frames are its own.
    first = starts[episode]
    for path in sorted((root / "videos" / key).glob("*/*.mp4")):
        count = _frame_count(path)
        if count == 0 or first < count:
            return path, first / found.info["fps"]
        first -= count
    return root / "videos" / key / "missing.mp4", 0.0


def _frame_count(path: Path) -> int:
    import av

    try:
        with av.open(str(path)) as container:
            return int(container.streams.video[0].frames)
    except (av.error.FFmpegError, IndexError):
        return 0


def _sequential_starts(found: Survey) -> dict[int, int]:
    """First frame of each episode in the cameras' video stream, for episodes whose predecessors all have frames."""
    starts: dict[int, int] = {}
    frame = 0
    for episode in range(max(found.frames, default=-1) + 1):
        if episode not in found.frames:
            break
        starts[episode] = frame
        frame += len(found.frames[episode])
    return starts


def _precheck(found: Survey, episode: int) -> str | None:
    """Why ``episode`` cannot be kept, from its frames and scene alone; None when it may be."""
    rows = found.frames.get(episode)
    if rows is None:
        return "its frames are lost"
    if episode in found.changed:
        return f"{found.changed[episode]} is not the file that was saved (its SHA-256 differs: bit rot, or an edit)"
    n = len(rows)
    if list(rows["frame_index"]) != list(range(n)):
        return "its frame_index is not 0..n-1 (frames missing)"
    for key in ("observation.state", "action"):
        if key in rows and not np.isfinite(np.asarray(rows[key].tolist(), dtype=np.float64)).all():
            return f"its {key} holds NaN or infinity"
    if not found.workbench:
        return None
    scene = found.scenes.get(episode)
    if scene is None:
        return "it has no scene in meta/so101/episodes.jsonl"
    if scene.frames != n:
        return f"its scene says {scene.frames} frames, the data holds {n}"
    if not 0 <= scene.session < len(found.sessions):
        return f"its scene names session {scene.session}, which meta/so101/recording.json lacks"
    return None


def repair(root: Path, output: Path, repo_id: str) -> tuple[list[int], dict[int, str], list[str]]:
    """Write the provably complete episodes of ``root`` into ``output``.

    Returns the kept episodes (original indices, in order), the dropped ones with their reason, and the unreadable
    files.
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    found = survey(root)
    info = found.info
    fps = int(info["fps"])
    video_keys = [key for key, feature in info["features"].items() if feature["dtype"] == "video"]
    features = {
        k: {"dtype": f["dtype"], "shape": tuple(f["shape"]), "names": f.get("names")}
        for k, f in info["features"].items()
        if "index" not in k
    }
    features.pop("timestamp", None)
    candidates = sorted(set(found.frames) | set(found.scenes) | set(range(info["total_episodes"])))
    starts = _sequential_starts(found)
    partial = output.with_name(output.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    dataset = LeRobotDataset.create(
        repo_id=repo_id, fps=fps, features=features, root=partial, robot_type=info.get("robot_type"),
        use_videos=True, vcodec="h264", streaming_encoding=True,
    )
    use_lossless_encoder(dataset, DatasetConfig(repo_id=repo_id).encoder_threads)
    correct_image_stats()
    readers = {key: VideoFrames() for key in video_keys}
    kept: list[int] = []
    dropped: dict[int, str] = {}
    try:
        for episode in candidates:
            reason = _precheck(found, episode)
            if reason is None:
                reason = _copy_episode(root, found, episode, dataset, readers, starts, fps)
            if reason is None:
                kept.append(episode)
            else:
                dropped[episode] = reason
    except BaseException:
        # Nothing of a failed repair is kept; its writers must not write again (a full disk fails them in finalize
        # and in __del__).
        DatasetInternals(dataset).abandon_writers()
        with contextlib.suppress(Exception):  # the error that stopped the repair is the one to report
            dataset.finalize()
        for reader in readers.values():
            reader.close()
        shutil.rmtree(partial, ignore_errors=True)
        raise
    for reader in readers.values():
        reader.close()
    dataset.finalize()
    if not kept:
        shutil.rmtree(partial, ignore_errors=True)
        return kept, dropped, found.lost
    if found.workbench:
        records = [
            EpisodeRecord(new, s.session, s.placement, s.outcome, s.frames, s.phases)
            for new, s in enumerate(found.scenes[old] for old in kept)
        ]
        SceneMetadata(partial).write_all(found.sessions, records)
        write_all(partial)
    os.rename(partial, output)
    return kept, dropped, found.lost


def _copy_episode(
    root: Path, found: Survey, episode: int, dataset: Any, readers: dict[str, VideoFrames],
    starts: dict[int, int], fps: int,
) -> str | None:
    """Add ``episode``'s frames with every camera's images and save it; the reason when a video falls short."""
    rows = found.frames[episode]
    n = len(rows)
    images: dict[str, list[np.ndarray]] = {}
    for key, reader in readers.items():
        if episode not in found.episode_rows and episode not in starts:
            return f"the video of {key} cannot be matched to it (meta/episodes is lost and earlier frames too)"
        path, start = _video_place(root, found, episode, key, starts)
        images[key] = reader.take(path, start, n, fps)
        if len(images[key]) < n:
            return f"the video of {key} holds {len(images[key])} of its {n} frames ({path.relative_to(root)})"
    task = found.tasks.get(int(rows["task_index"].iloc[0]))
    if task is None and found.workbench:
        task = found.sessions[found.scenes[episode].session].get("task")
    if task is None:
        return "its task is unknown (meta/tasks.parquet is lost and no session names it)"
    for i, row in enumerate(rows.to_dict("records")):
        frame = {"task": task, **{key: images[key][i] for key in images}}
        for key in ("observation.state", "action"):
            frame[key] = np.asarray(row[key], dtype=np.float32)
        dataset.add_frame(frame)
    dataset.save_episode()
    return None


def _repair(cfg: RepairConfig) -> int:
    import av

    # Truncated videos are expected here: their decoder errors become the reasons printed below.
    av.logging.set_libav_level(av.logging.FATAL)
    root = cfg.dataset.resolved_root()
    output = cfg.output if cfg.output is not None else root.with_name(root.name + ".repaired")
    if output.exists():
        raise DatasetError(f"--output {output} exists already; remove it or give another --output")
    staged = StagedOutput(output, "dataset repair", "--output")
    with staged as staging:
        kept, dropped, lost = repair(root, staging, cfg.dataset.repo_id)
        if kept:
            staged.commit()
    for line in lost:
        print(f"  file lost: {line}")
    if not (root / "meta" / "so101").is_dir():
        print("  note: no workbench metadata (meta/so101; recorded by lerobot-record?): scenes were not checked")
    for episode, reason in dropped.items():
        print(f"  episode {episode}: dropped: {reason}")
    if not kept:
        print(f"dataset repair: no episode of {root} could be proven complete; nothing was written")
        return 1
    print(
        f"dataset repair: kept {len(kept)} episode(s) ({_ranges(kept)}) as 0..{len(kept) - 1} in {output}, "
        f"dropped {len(dropped)}; {root} is unchanged. Check it with so101 dataset validate --dataset.root {output}"
    )
    return 0


def _ranges(values: list[int]) -> str:
    return ", ".join(str(v) for v in values) if len(values) <= 8 else f"{values[0]}..{values[-1]}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 dataset repair``; exits 1 when nothing could be kept."""
    return run_command("dataset repair", RepairConfig, _repair, argv)
