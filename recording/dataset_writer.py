"""Writing episodes into a LeRobot v3.0 dataset with LeRobot's own API, plus the workbench's scene files.

Features (LeRobot's names, those of a real SO-101 follower recorded with ``lerobot-record``):

* ``observation.state``: float32 (6,), the follower's joint positions read from the simulation, dataset units;
* ``action``: float32 (6,), the joint targets commanded at that frame, dataset units;
* ``observation.images.<camera>``: one video per camera, (height, width, 3) RGB;
* the task string of every frame; ``robot_type`` is ``so101_follower``.

Videos are encoded while recording (LeRobot's streaming encoder), which makes ``save_episode`` near-instant and
skips the PNG round trip. LeRobot's encoder drops frames when its queue is full (a real camera cannot wait); a
simulation can, so the writer swaps in an encoder that waits instead: no frame is ever lost.

Image statistics in ``meta/stats.json`` are computed with pixels as floats (``correct_image_stats``): LeRobot
0.4.4's own make image ``std`` 10-100x too small.

Episodes become part of the dataset only through ``save_episode``, each in one durable commit (LeRobot's writers
are closed after every episode, ``so101.recording.episode_commit``): whatever kills the process, every episode reported
saved is in a valid dataset. ``discard_episode`` drops the one in progress; ``finalize`` ends the session.

A writer holds the dataset's lock (``so101.recording.dataset_lock``) from ``create``/``resume`` to ``finalize``: a
second writer is refused before it touches anything, and a work folder is only removed as a killed session's leftovers
once the lock is taken (its holder is dead).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from so101.errors import ConfigError, DatasetError
from so101.kinematics.units import JOINT_FEATURE_NAMES
from so101.lerobot_compat import correct_image_stats, require, use_lossless_encoder
from so101.recording.crash_points import crash_point
from so101.recording.dataset_checks import check_openable
from so101.recording.dataset_lock import DatasetLock
from so101.recording.durable_root import DurableRoot
from so101.recording.episode_commit import EpisodeCommitter
from so101.recording.scene_metadata import EpisodeRecord, SceneMetadata, recorded_repo_id
from so101.sim.randomization import ScenePlacement
from so101.sim.scene import CameraConfig
from so101.sim.task_signals import TASK

if TYPE_CHECKING:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

log = logging.getLogger(__name__)

ROBOT_TYPE = "so101_follower"
"""LeRobot's name of the SO-101 follower: policies trained on the dataset deploy to it unchanged."""
SIM_ROBOT_TYPE = "so101_sim"
"""The robot type ``lerobot-record --robot.type=so101_sim`` (``so101.sim.lerobot_robot``) writes: same features and
units."""
ROBOT_TYPES = (ROBOT_TYPE, SIM_ROBOT_TYPE)

VIDEO_CODECS: tuple[str, ...] = ("libsvtav1", "h264", "hevc")
DEFAULT_REPO_ID = "local/so101_pickplace"
"""``--dataset.repo_id`` when none is given."""


@dataclass
class DatasetConfig:
    """Where and how the dataset is written (``--dataset.repo_id``, ``--dataset.root``, ...)."""

    repo_id: str = DEFAULT_REPO_ID
    """Name of the dataset (``user/name``); nothing is uploaded. Kept in ``meta/so101/recording.json``."""
    root: Path | None = None
    """Folder of the dataset; default: LeRobot's cache, ``$HF_LEROBOT_HOME/<repo_id>``."""
    task: str = TASK
    """Task string of every frame. Language-conditioned policies must later be given exactly this string."""
    vcodec: str = "h264"
    """Video codec: ``h264`` (the default: a third of SVT-AV1's encoding CPU time, which keeps CPU-only recording
    above 3x real time), ``libsvtav1`` (LeRobot's default: smaller files, slower to encode) or ``hevc``. LeRobot
    decodes all three."""
    encoder_threads: int | None = None
    """Threads per video encoder; default: the codec decides."""

    def __post_init__(self) -> None:
        if "/" not in self.repo_id or self.repo_id.startswith("/") or self.repo_id.endswith("/"):
            raise ConfigError("dataset.repo_id", self.repo_id, "must look like 'user/name'")
        if self.vcodec not in VIDEO_CODECS:
            raise ValueError(f"--dataset.vcodec must be one of {', '.join(VIDEO_CODECS)}, got {self.vcodec!r}")
        if not self.task.strip():
            raise ValueError("--dataset.task must not be empty")

    def resolved_root(self) -> Path:
        return resolve_root(self.repo_id, self.root)


@dataclass
class DatasetRef:
    """An existing dataset to read (``--dataset.repo_id``, ``--dataset.root``)."""

    repo_id: str = DEFAULT_REPO_ID
    """Name of the dataset (``user/name``), as LeRobot opens it; without ``root`` it also names the folder in
    LeRobot's cache."""
    root: Path | None = None
    """Folder of the dataset; default: LeRobot's cache, ``$HF_LEROBOT_HOME/<repo_id>``."""

    def resolved_root(self) -> Path:
        return resolve_root(self.repo_id, self.root)

    def existing_root(self, flag: str = "--dataset.root") -> Path:
        """The dataset's folder, checked to hold a LeRobot dataset that opens (``dataset_checks.check_openable``);
        errors name ``flag``, the option that gave the folder.

        Raises:
            DatasetError: the folder does not exist, is not a LeRobot dataset, or one of its files is damaged.
        """
        root = self.resolved_root()
        if not (root / "meta" / "info.json").is_file():
            problem = "does not exist" if not root.exists() else "is not a LeRobot dataset (it has no meta/info.json)"
            raise DatasetError(
                f"{flag} {root} {problem}; give the folder of a LeRobot v3.0 dataset, as "
                "so101 record --dataset.root wrote it"
            )
        check_openable(root, flag)
        return root

    def metadata(self) -> LeRobotDatasetMetadata:
        """LeRobot's metadata of the dataset (read offline from its folder)."""
        from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

        return LeRobotDatasetMetadata(self.repo_id, root=self.existing_root())


def resolve_root(repo_id: str, root: Path | None) -> Path:
    """``root``, or LeRobot's default place for ``repo_id`` (``$HF_LEROBOT_HOME/<repo_id>``)."""
    if root is not None:
        return Path(root)
    from lerobot.utils.constants import HF_LEROBOT_HOME

    return Path(HF_LEROBOT_HOME) / repo_id


def dataset_features(
    cameras: list[CameraConfig], extra: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """The dataset's features, in the form ``LeRobotDataset.create`` takes; ``extra`` features are added (a
    deployment's ``policy.action``)."""
    names = list(JOINT_FEATURE_NAMES)
    features: dict[str, dict[str, Any]] = {
        "observation.state": {"dtype": "float32", "shape": (6,), "names": names},
        "action": {"dtype": "float32", "shape": (6,), "names": names},
        **(extra or {}),
    }
    for camera in cameras:
        features[f"observation.images.{camera.name}"] = {
            "dtype": "video",
            "shape": (camera.height, camera.width, 3),
            "names": ["height", "width", "channels"],
        }
    return features


def feature_mismatches(expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]) -> list[str]:
    """Differences between two feature dicts in dtype, shape and names (LeRobot's default features ignored)."""
    problems = []
    for key, feature in expected.items():
        other = actual.get(key)
        if other is None:
            problems.append(f"missing feature {key!r}")
            continue
        for field_name in ("dtype", "shape", "names"):
            want, have = feature.get(field_name), other.get(field_name)
            if field_name == "shape":
                want, have = tuple(want or ()), tuple(have or ())
            if want != have:
                problems.append(f"{key}: {field_name} is {have!r}, expected {want!r}")
    defaults = {"timestamp", "frame_index", "episode_index", "index", "task_index"}
    for key in sorted(set(actual) - set(expected) - defaults):
        problems.append(f"unexpected feature {key!r}")
    return problems


class DatasetWriter:
    """One LeRobot dataset being recorded into, with its scene metadata; every saved episode is committed durably.

    The dataset folder only ever holds complete episodes (``so101.recording.episode_commit``): a kill -9 at any instant
    leaves every episode reported saved readable by stock LeRobot, and ``--resume true`` continues the session.
    """

    def __init__(
        self, dataset: LeRobotDataset, root: Path, session: dict[str, Any], session_index: int, task: str,
        lock: DatasetLock,
    ) -> None:
        self.dataset = dataset
        self.lock = lock
        self._root = root
        self.metadata = SceneMetadata(root)
        # The dataset's name, which LeRobot's files do not keep (export-hdf5 names its source by it).
        session = {**session, "repo_id": dataset.repo_id}
        placements = [r.placement for r in self.metadata.episodes() if r.placement is not None]
        self._used_seeds = {p.seed for p in placements if p.seed is not None}
        self.session = session
        self.session_index = session_index
        self.task = task
        self.committer = EpisodeCommitter(dataset, DurableRoot(root))
        self._session_written = False
        self._frames = 0

    @classmethod
    def create(
        cls,
        config: DatasetConfig,
        fps: int,
        cameras: list[CameraConfig],
        session: dict[str, Any],
        extra_features: dict[str, dict[str, Any]] | None = None,
        command: str = "record",
    ) -> DatasetWriter:
        """Start a new dataset at ``config.root``; refuses to touch an existing folder. ``extra_features`` are
        recorded beside the standard ones (``add_frame``'s ``extra``); ``command`` names this writer to a second one
        that the dataset's lock refuses.

        The folder appears with the first saved episode: a session that saves nothing leaves nothing.
        """
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        require("lerobot", "record (durable episode commits through LeRobot's writer)")
        root = config.resolved_root()
        with DatasetLock(root, command).released_on_error() as lock:
            # Recover first: a commit interrupted between its two renames (filesystems without an atomic exchange)
            # is completed there, which brings the dataset folder back.
            durable = DurableRoot(root)
            _say_recovered(durable.recover(), root)
            if root.exists():
                raise FileExistsError(
                    f"{root} exists already; pass --resume to append to it, or choose another --dataset.root"
                )
            dataset = LeRobotDataset.create(
                repo_id=config.repo_id,
                fps=fps,
                features=dataset_features(cameras, extra_features),
                root=durable.next,
                robot_type=ROBOT_TYPE,
                use_videos=True,
                vcodec=config.vcodec,
                streaming_encoding=True,
                encoder_threads=config.encoder_threads,
            )
            use_lossless_encoder(dataset, config.encoder_threads)
            correct_image_stats()
            return cls(dataset, root, session, 0, config.task, lock)

    @classmethod
    def resume(
        cls,
        config: DatasetConfig,
        fps: int,
        cameras: list[CameraConfig],
        session: dict[str, Any],
        extra_features: dict[str, dict[str, Any]] | None = None,
    ) -> DatasetWriter:
        """Open an existing workbench dataset to append episodes; its fps and features (``extra_features``
        included) must match this recording."""
        import datasets
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        require("lerobot", "record (durable episode commits through LeRobot's writer)")
        root = config.resolved_root()
        with DatasetLock(root, "record", create_parent=False).released_on_error() as lock:
            _say_recovered(DurableRoot(root).recover(), root)
            metadata = SceneMetadata(root)
            if not (root / "meta" / "info.json").is_file():
                raise FileNotFoundError(
                    f"--resume: there is no LeRobot dataset at {root} (no meta/info.json); drop --resume to create one"
                )
            if not metadata.exists():
                raise DatasetError(
                    f"--resume: {root} was not recorded by the workbench (no {metadata.recording_path.name}); its "
                    "episodes could not be re-simulated. Record into a new --dataset.root and merge instead"
                )
            check_openable(root, "--resume")
            repo_id = config.repo_id
            if repo_id == DEFAULT_REPO_ID:  # not given: the name the dataset was recorded under
                repo_id = recorded_repo_id(metadata.sessions()) or repo_id
            dataset = LeRobotDataset(
                repo_id,
                root=root,
                vcodec=config.vcodec,
                streaming_encoding=True,
                encoder_threads=config.encoder_threads,
            )
            # Loading the parquet files runs LeRobot 0.4.4's SuppressProgressBars, which re-enables the `datasets`
            # progress bars on exit whatever they were: without this, every saved episode prints a "Map" bar.
            datasets.disable_progress_bars()
            problems = feature_mismatches(dataset_features(cameras, extra_features), dataset.meta.features)
            if dataset.meta.fps != fps:
                problems.append(f"fps is {dataset.meta.fps}, this recording runs at {fps}")
            if dataset.meta.robot_type != ROBOT_TYPE:
                problems.append(f"robot_type is {dataset.meta.robot_type!r}, expected {ROBOT_TYPE!r}")
            if problems:
                dataset.finalize()
                raise DatasetError(
                    f"--resume: {root} does not match this recording: "
                    + "; ".join(problems)
                    + ". Use the dataset's --scene.fps, --cameras.names and image size, or record into a new "
                    "--dataset.root"
                )
            use_lossless_encoder(dataset, config.encoder_threads)
            correct_image_stats()
            return cls(dataset, root, session, len(metadata.sessions()), config.task, lock)

    @property
    def root(self) -> Path:
        return self._root

    @property
    def num_episodes(self) -> int:
        """Episodes in the dataset folder (committed)."""
        return self.committer.committed

    def used_seeds(self) -> set[int]:
        """Scene seeds of the episodes already in the dataset (a resumed session draws new ones)."""
        return set(self._used_seeds)

    def add_frame(
        self,
        state: np.ndarray,
        action: np.ndarray,
        images: dict[str, np.ndarray],
        extra: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Append one frame to the episode in progress. ``state`` and ``action``: (6,) dataset units; ``extra``:
        values of the ``extra_features`` the dataset was created with."""
        frame: dict[str, Any] = {
            "observation.state": np.asarray(state, dtype=np.float32),
            "action": np.asarray(action, dtype=np.float32),
            "task": self.task,
            **{key: np.asarray(value, dtype=np.float32) for key, value in (extra or {}).items()},
        }
        for name, image in images.items():
            frame[f"observation.images.{name}"] = image
        self.dataset.add_frame(frame)
        self._frames += 1
        crash_point("frame")

    def save_episode(self, placement: ScenePlacement, outcome: str, phases: dict[str, bool]) -> int:
        """Write the episode in progress and its scene in one durable commit; returns its episode index."""
        if self._frames == 0:
            raise ValueError("an episode needs at least one frame")
        index, frames = self.num_episodes, self._frames
        record = EpisodeRecord(index, self.session_index, placement, outcome, frames, phases).to_json()
        return self._commit(lambda scenes: scenes.append_episode_line(record))

    def save_sceneless_episode(self, outcome: str) -> int:
        """Write the episode in progress with a line of ``episodes.jsonl`` that has no scene (an episode that did
        not happen in the simulator: an import, the real arm), in one durable commit; returns its episode index."""
        if self._frames == 0:
            raise ValueError("an episode needs at least one frame")
        record = EpisodeRecord(self.num_episodes, self.session_index, None, outcome, self._frames, {}).to_json()
        return self._commit(lambda scenes: scenes.append_episode_line(record))

    def _commit(self, write_scene: Callable[[SceneMetadata], None]) -> int:
        index = self.num_episodes

        def write_metadata(version: Path) -> None:
            scenes = SceneMetadata(version)
            if not self._session_written:
                scenes.add_session(self.session)
            write_scene(scenes)

        self.committer.save(write_metadata)
        self._session_written = True
        self._frames = 0
        return index

    def discard_episode(self) -> None:
        """Drop the episode in progress (its frames and its partly encoded videos)."""
        if self._frames:
            self.dataset.clear_episode_buffer()
        self._frames = 0

    def finalize(self) -> None:
        """End the session: the episode in progress is dropped, the work folder removed, the lock released."""
        crash_point("finalize")
        try:
            self.discard_episode()
        finally:
            try:
                self.committer.close()
            finally:
                self.lock.release()


def _say_recovered(removed: list[str], root: Path) -> None:
    if removed:
        log.info("record: an earlier session on %s was killed; removed %s (never saved)", root, " and ".join(removed))
