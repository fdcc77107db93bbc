"""``so101 dataset export-hdf5``: write a LeRobot dataset's episodes as HDF5 files in the ACT / ALOHA layout.

    so101 dataset export-hdf5 --dataset.root data/pick --output data/pick_hdf5
    so101 dataset export-hdf5 --dataset.root data/pick --output data/pick_hdf5 --episodes "[0, 3]"
    so101 dataset export-hdf5 --dataset.root data/pick --output data/pick_hdf5 --pad_to 400   # equal lengths

One file per episode, ``<output>/episode_<i>.hdf5`` (``i`` the dataset's episode index), laid out as the original
ACT / ALOHA scripts (``record_sim_episodes.py``, ``imitate_episodes.py``) read it:

* ``/observations/qpos`` (T, 6) float32: ``observation.state``;
* ``/observations/qvel`` (T, 6) float32: not recorded by LeRobot, so derived from qpos by central finite
  differences (per second); its ``derived`` attribute says so;
* ``/observations/images/<camera>`` (T, H, W, 3) uint8 RGB, ``<camera>`` the name after ``observation.images.``;
* ``/action`` (T, 6) float32: ``action``;
* root attributes: ``sim`` True, ``fps``, ``units`` (``degrees``: the dataset's units, body joints in degrees and
  the gripper 0 closed .. 100 open), ``joint_names``, ``task``, ``robot_type``, ``episode_index``, ``source`` (the
  dataset's repo_id, or its folder when no repo_id is known), ``source_root`` (its folder), ``episode_len`` (the
  episode's real frames).

With ``--pad_to N`` every file holds exactly N frames, as ALOHA's simulated episodes do: ACT's original loader
(``utils.py``: ``get_norm_stats`` stacks the episodes) needs equal lengths. The last frame is repeated (the arm holds
still: ``qvel`` 0) and ``/is_pad`` (N,) bool marks the added frames; an episode longer than N is refused before
anything is written. ``so101 dataset import-hdf5`` drops the padded frames again.

Joint values are written in the dataset's units, untouched. Videos are decoded with LeRobot's own decoder
(``decode_video_frames``, its default backend), a few frames at a time, and episodes are written one after the
other, so memory does not grow with the episode or the dataset. A new ``--output`` folder appears only with every
file in it (``so101.recording.staged_output``); into an existing folder, the files are written into its hidden
``.so101-export-staging`` folder and moved in once all are complete, so a killed export leaves none of them (or, if
killed while moving them in, the rerun completes the move). Files already there are never overwritten. The files'
size is known beforehand (images are stored uncompressed): a disk without room refuses the export before it starts.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from so101.command import run_command
from so101.errors import ConfigError, DatasetError
from so101.kinematics.units import JOINT_FEATURE_NAMES
from so101.recording.atomic_file import fsync_dir, fsync_tree, write_atomic
from so101.recording.crash_points import crash_point
from so101.recording.dataset_lock import DatasetLock
from so101.recording.dataset_writer import DEFAULT_REPO_ID, DatasetRef
from so101.recording.disk_space import check_room, filled_up, filled_up_error, tree_bytes
from so101.recording.scene_metadata import SceneMetadata, recorded_repo_id
from so101.recording.staged_output import StagedOutput

if TYPE_CHECKING:
    import h5py
    from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

UNITS = "degrees"
"""Value of the ``units`` attribute: LeRobot's SO-101 units (body joints in degrees, gripper 0..100)."""
UNITS_DESCRIPTION = "body joints in degrees (zero mid-range, so101_new_calib); gripper 0 (closed) .. 100 (open)"
DECODE_FRAMES = 32
"""Frames decoded per call: bounds memory to a few dozen frames per camera whatever the episode's length."""
IMAGE_PREFIX = "observation.images."
EXPORT_STAGING = ".so101-export-staging"
"""Folder inside an existing ``--output`` where files are written before they are moved in."""
MOVING = "moving"
"""File of the staging folder listing its complete files while they are moved in (a rerun completes the move)."""


@dataclass
class ExportConfig:
    """Options of ``so101 dataset export-hdf5``."""

    dataset: DatasetRef = field(default_factory=DatasetRef)
    """The dataset to export (``--dataset.root``, or ``--dataset.repo_id`` in LeRobot's cache)."""
    output: Path | None = None
    """Folder of the HDF5 files (created when missing); files already there are never overwritten."""
    episodes: list[int] | None = None
    """Episode indices to export, e.g. ``--episodes "[0, 3]"``; default: all."""
    pad_to: int | None = None
    """Write every episode with exactly this many frames (the last one repeated, ``/is_pad`` marking the copies),
    for loaders that stack episodes (ACT's original ``utils.py``); default: each episode at its own length."""

    def __post_init__(self) -> None:
        if self.output is None:
            raise ValueError("--output is required: the folder to write episode_<i>.hdf5 files into")
        if self.pad_to is not None and self.pad_to < 1:
            raise ConfigError("pad_to", self.pad_to, "must be a number of frames (1 or more)")
        if self.episodes is not None and (not self.episodes or min(self.episodes) < 0):
            raise ConfigError("episodes", self.episodes, "must list episode indices (0 or more)")


def episode_file(output: Path, episode_index: int) -> Path:
    return Path(output) / f"episode_{episode_index}.hdf5"


def dataset_name(ref: DatasetRef) -> str | None:
    """The dataset's repo_id: ``--dataset.repo_id`` when given (or when it found the dataset in LeRobot's cache),
    else the one its recording kept in ``meta/so101/recording.json``, else its place in LeRobot's cache; None when
    nothing says (LeRobot's own files do not keep it)."""
    if ref.root is None or ref.repo_id != DEFAULT_REPO_ID:
        return ref.repo_id
    recorded = recorded_repo_id(SceneMetadata(Path(ref.root)).sessions())
    if recorded is not None:
        return recorded
    from lerobot.utils.constants import HF_LEROBOT_HOME

    root, cache = Path(ref.root).resolve(), Path(HF_LEROBOT_HOME).resolve()
    inside = root.relative_to(cache) if root.is_relative_to(cache) else None
    return inside.as_posix() if inside is not None and len(inside.parts) == 2 else None


def export_hdf5(
    root: Path, output: Path, repo_id: str | None = None, episodes: list[int] | None = None,
    pad_to: int | None = None,
) -> list[Path]:
    """Export episodes of the dataset at ``root`` into ``output``; returns the files written, in order.
    ``repo_id``: the dataset's name (``source`` attribute; None: unknown, the folder is written instead);
    ``pad_to``: frames of every file (None: each episode's own length).

    Raises:
        DatasetError: the dataset's state or action is not the six SO-101 joints, an episode does not exist, or an
            episode is longer than ``pad_to``.
        FileExistsError: an episode's file exists already in ``output``.
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from so101.recording.video_checks import check_videos

    dataset = LeRobotDataset(repo_id or DEFAULT_REPO_ID, root=root)
    meta = dataset.meta
    for key in ("observation.state", "action"):
        feature = meta.features.get(key)
        if feature is None or tuple(feature["shape"]) != (6,) or list(feature.get("names") or []) != list(
            JOINT_FEATURE_NAMES
        ):
            raise DatasetError(
                f"{root}: feature {key!r} is not the six SO-101 joints {list(JOINT_FEATURE_NAMES)}; export-hdf5 "
                "writes joint-space datasets (convert end-effector datasets back, or export their joint copy)"
            )
    stills = [key for key in meta.camera_keys if key not in meta.video_keys]
    if stills:
        raise DatasetError(
            f"{root}: cameras {stills} are stored as images, not videos; export-hdf5 reads videos (record with "
            "videos, as so101 record and lerobot-record do by default)"
        )
    available = list(range(meta.total_episodes))
    chosen = available if episodes is None else list(episodes)
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        raise DatasetError(f"--episodes {unknown} are not in {root}, which has episodes 0..{meta.total_episodes - 1}")
    if pad_to is not None:
        lengths = {index: int(meta.episodes[index]["length"]) for index in chosen}
        longest = max(lengths, key=lambda index: lengths[index])
        if lengths[longest] > pad_to:
            too_long = sorted(index for index, length in lengths.items() if length > pad_to)
            raise DatasetError(
                f"--pad_to {pad_to}: episode {longest} of {root} has {lengths[longest]} frames (episodes longer than "
                f"{pad_to}: {too_long}); give --pad_to {lengths[longest]} or more, or leave those out with --episodes"
            )
    check_videos(Path(root), meta.info, "--dataset.root", set(chosen))
    output = Path(output)
    existing = [episode_file(output, index) for index in chosen if episode_file(output, index).exists()]
    if existing:
        raise FileExistsError(f"{existing[0]} exists already; choose another --output or remove the old files")
    output.mkdir(parents=True, exist_ok=True)
    source = repo_id if repo_id is not None else str(Path(root).resolve())
    return [_export_episode(dataset, index, episode_file(output, index), source, pad_to) for index in chosen]


def padded(values: np.ndarray, length: int) -> np.ndarray:
    """``values`` (T, ...) extended to ``length`` frames by repeating its last frame."""
    return np.concatenate([values, np.repeat(values[-1:], length - len(values), axis=0)])


def _export_episode(dataset: LeRobotDataset, index: int, path: Path, source: str, pad_to: int | None) -> Path:
    import h5py

    meta = dataset.meta
    row = meta.episodes[index]
    start, stop = int(row["dataset_from_index"]), int(row["dataset_to_index"])
    frames = dataset.hf_dataset.with_format("numpy")[start:stop]
    qpos = np.asarray(frames["observation.state"], dtype=np.float32)
    action = np.asarray(frames["action"], dtype=np.float32)
    timestamps = np.asarray(frames["timestamp"], dtype=np.float64)
    length = len(qpos) if pad_to is None else pad_to
    qvel = joint_velocity(qpos, meta.fps)
    if length > len(qpos):  # held still after the end: the same pose, no velocity
        qvel = np.concatenate([qvel, np.zeros((length - len(qpos), qvel.shape[1]), dtype=np.float32)])
        qpos, action = padded(qpos, length), padded(action, length)
    tasks = list(row["tasks"]) if row.get("tasks") is not None else []
    partial = path.with_name(path.name + ".partial")
    try:
        with h5py.File(partial, "w") as file:
            file.attrs.update(
                {
                    "sim": True,
                    "fps": int(meta.fps),
                    "units": UNITS,
                    "units_description": UNITS_DESCRIPTION,
                    "joint_names": list(JOINT_FEATURE_NAMES),
                    "task": tasks[0] if tasks else "",
                    "robot_type": str(meta.robot_type),
                    "episode_index": index,
                    "source": source,
                    "source_root": str(Path(dataset.root).resolve()),
                    "episode_len": len(timestamps),
                }
            )
            observations = file.create_group("observations")
            observations.create_dataset("qpos", data=qpos)
            velocity = observations.create_dataset("qvel", data=qvel)
            velocity.attrs["derived"] = (
                "central finite difference of qpos (units per second); LeRobot records no velocity"
            )
            file.create_dataset("action", data=action)
            if pad_to is not None:
                is_pad = file.create_dataset("is_pad", data=np.arange(length) >= len(timestamps))
                is_pad.attrs["meaning"] = "true on frames added by --pad_to (copies of the last frame)"
            images = observations.create_group("images")
            for key in meta.video_keys:
                _write_video(dataset, index, key, timestamps, images, key.removeprefix(IMAGE_PREFIX), length)
        partial.rename(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def joint_velocity(qpos: np.ndarray, fps: float) -> np.ndarray:
    """(T, 6) joint velocities (dataset units per second) from (T, 6) positions sampled at ``fps``."""
    if len(qpos) < 2:
        return np.zeros_like(qpos, dtype=np.float32)
    return np.gradient(qpos.astype(np.float64), 1.0 / fps, axis=0).astype(np.float32)


def _write_video(
    dataset: LeRobotDataset, index: int, key: str, timestamps: np.ndarray, group: h5py.Group, name: str, length: int
) -> None:
    """Decode the episode's span of one camera's video, ``DECODE_FRAMES`` at a time, into ``group[name]``, and
    repeat its last frame up to ``length`` frames."""
    from lerobot.datasets.video_utils import decode_video_frames

    height, width, channels = dataset.meta.features[key]["shape"]
    target = group.create_dataset(
        name, shape=(length, height, width, channels), dtype=np.uint8, chunks=(1, height, width, channels)
    )
    video_path = dataset.root / dataset.meta.get_video_file_path(index, key)
    offset = float(dataset.meta.episodes[index][f"videos/{key}/from_timestamp"])
    for first in range(0, len(timestamps), DECODE_FRAMES):
        query = [offset + float(t) for t in timestamps[first : first + DECODE_FRAMES]]
        frames = decode_video_frames(video_path, query, dataset.tolerance_s, dataset.video_backend)
        # LeRobot returns float32 (N, C, H, W) in [0, 1]; the ALOHA layout stores uint8 (N, H, W, C).
        pixels = (frames.permute(0, 2, 3, 1).numpy() * 255.0).round().astype(np.uint8)
        target[first : first + len(query)] = pixels
    for frame in range(len(timestamps), length):
        target[frame] = pixels[-1]


# ---------------------------------------------------------------------- command


def _export(cfg: ExportConfig) -> int:
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

    root = cfg.dataset.existing_root()
    name = dataset_name(cfg.dataset)
    output = Path(str(cfg.output))
    meta = LeRobotDatasetMetadata(cfg.dataset.repo_id, root=root)
    need = export_bytes(meta, cfg.episodes)
    if output.exists():
        with DatasetLock(output, "dataset export-hdf5", "--output", create_parent=False):
            chosen = cfg.episodes if cfg.episodes is not None else list(range(meta.total_episodes))
            paths = _export_into(root, output, name, chosen, need, cfg.pad_to)
    else:
        # A new folder appears whole: a killed export leaves no folder of some of the episodes.
        staged = StagedOutput(output, "dataset export-hdf5", "--output", need=need)
        with staged as staging:
            paths = export_hdf5(root, staging, name, cfg.episodes, cfg.pad_to)
            staged.commit()
    padding = f", padded to {cfg.pad_to} frames (/is_pad marks the copies)" if cfg.pad_to is not None else ""
    print(
        f"dataset export-hdf5: {len(paths)} episode(s) of {root} written to {cfg.output} (ACT/ALOHA layout{padding})"
    )
    return 0


def export_bytes(meta: LeRobotDatasetMetadata, episodes: list[int] | None) -> int:
    """Bytes the HDF5 files of ``episodes`` (default: all) take at least: their images are stored uncompressed."""
    lengths = list(meta.episodes["length"])
    frames = sum(lengths) if episodes is None else sum(lengths[i] for i in episodes if 0 <= i < len(lengths))
    pixels = sum(int(np.prod(meta.features[key]["shape"])) for key in meta.video_keys)
    return frames * (pixels + 3 * 6 * 4)


def _export_into(
    root: Path, output: Path, repo_id: str | None, episodes: list[int], need: int, pad_to: int | None = None
) -> list[Path]:
    """Export ``episodes`` into the existing folder ``output`` (its lock held): the files are written into
    ``<output>/.so101-export-staging`` and moved in once all are complete. A killed run's files are removed; when it
    was killed while moving them in, the move is completed (and, were they the files asked for, that is all)."""
    staging = output / EXPORT_STAGING
    for partial in sorted(output.glob("episode_*.hdf5.partial")):
        partial.unlink()  # left by an older version, which wrote in place; the lock was free: its writer is dead
        print(f"dataset export-hdf5: removed {partial}, the unfinished file of an export that was killed")
    wanted = [episode_file(output, index) for index in episodes]
    completed = _recover(staging, output)
    if completed and sorted(completed) == sorted(path.name for path in wanted):
        return wanted
    existing = [path for path in wanted if path.exists()]
    if existing:
        raise FileExistsError(f"{existing[0]} exists already; choose another --output or remove the old files")
    check_room(output, "--output", need, "the HDF5 files")
    try:
        written = export_hdf5(root, staging, repo_id, episodes, pad_to)
    except Exception as error:
        size = tree_bytes(staging)
        shutil.rmtree(staging, ignore_errors=True)
        if filled_up(error, output):
            raise filled_up_error("dataset export-hdf5", output, "--output", "the HDF5 files", need, size) from error
        raise
    fsync_tree(staging)
    crash_point("derived:staged")
    write_atomic(staging / MOVING, "\n".join(path.name for path in written))
    for path in written:
        os.rename(path, output / path.name)
        crash_point("derived:moved")
    fsync_dir(output)
    shutil.rmtree(staging)
    return wanted


def _recover(staging: Path, output: Path) -> list[str]:
    """Clean up after an export into ``output`` that was killed (its lock was free); returns the files it had
    completed and that are now moved in (when it was killed while moving them), else []."""
    if not staging.exists():
        return []
    moving = staging / MOVING
    if not moving.is_file():
        shutil.rmtree(staging)
        print(f"dataset export-hdf5: removed {staging}, the unfinished files of an export that was killed")
        return []
    names = moving.read_text().split()
    for name in names:
        if (staging / name).exists() and not (output / name).exists():
            os.rename(staging / name, output / name)
    fsync_dir(output)
    shutil.rmtree(staging)
    print(f"dataset export-hdf5: moved in {len(names)} complete file(s) of an export killed while moving them: {names}")
    return names


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 dataset export-hdf5``."""
    return run_command("dataset export-hdf5", ExportConfig, _export, argv)
