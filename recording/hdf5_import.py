"""``so101 dataset import-hdf5``: HDF5 episodes (ACT / ALOHA or LeIsaac layout) into a new LeRobot dataset.

    so101 dataset import-hdf5 --input data/pick_hdf5 --dataset.root data/pick_again
    so101 dataset import-hdf5 --input leisaac/dataset.hdf5 --dataset.root data/leisaac --task "Pick the orange"

Layouts (found by what the file holds; anything else is refused):

* **ACT / ALOHA**, one episode per file (what ``so101 dataset export-hdf5`` writes): ``/observations/qpos`` (T, 6)
  -> ``observation.state``; ``/action`` (T, 6) -> ``action``; ``/observations/images/<camera>`` (T, H, W, 3) uint8
  -> ``observation.images.<camera>``. ``/observations/qvel`` is not imported (LeRobot's SO-101 features have no
  velocity). Root attributes ``fps``, ``units`` and ``task`` are used when present.
* **LeIsaac** (IsaacLab's recorder, as LeIsaac's ``isaaclab2lerobot`` script reads it), many episodes per file:
  ``/data/demo_<i>/obs/joint_pos`` (T, 6) -> ``observation.state``; ``/data/demo_<i>/actions`` (T, 6) -> ``action``;
  every (T, H, W, 3) uint8 dataset of ``obs`` (``front``, ``wrist``) -> a camera. Joint values are radians of
  LeIsaac's SO-101, whose joint ranges match the workbench model's within a few degrees (elbow -100..90 against
  +-96.8, wrist roll +-160 against -157..163, gripper -10..100 the same), so they convert as simulator radians
  (LeIsaac's own converter maps its ranges linearly onto the older -100..100 convention instead). Demos whose
  ``success`` attribute is false are skipped, as LeIsaac's converter does; its other ``obs`` fields
  (``joint_vel``, ``ee_frame_state``, ...) and ``initial_state`` do not map onto LeRobot's SO-101 features.

Joint values are converted to the dataset's units (``so101.kinematics.units``: degrees, gripper 0..100) from ``--units``
(default: the file's ``units`` attribute, radians for LeIsaac). Camera names must be the workbench's
(``overhead_cam``, ``wrist_cam``, ``front_cam``) so that policies trained on the data run in the simulator;
``--cameras "{front: overhead_cam}"`` renames them (LeIsaac's ``front``/``wrist`` map to ``front_cam``/``wrist_cam``).

Every episode is checked (links it can follow, node kinds, sizes within ``so101.recording.hdf5_nodes``' limits,
six joints, equal lengths, finite values, image shapes) before anything is written; integer actions, or actions
beyond the SO-101's joint ranges in the given units (values scaled x1000, say), are named in a warning. The
dataset is written by ``so101.recording.dataset_writer`` (the writer of ``so101 record``: same features, robot type,
video encoding and ``meta/so101/recording.json`` session entry, here with source ``import-hdf5``), then checked by
``so101 dataset validate``'s checks of features, fps, tasks and videos. What cannot be checked: imported episodes
have no scene, so they cannot be re-simulated (neither by ``validate`` nor ``replay``), and whether
``observation.state`` really is the follower's joints is taken on trust. A failed or killed import leaves no dataset:
it is written into a hidden staging folder (``so101.recording.staged_output``) and renamed into place when complete.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from so101.command import run_command
from so101.errors import ConfigError, DatasetError
from so101.kinematics.units import JointLimits
from so101.recording.dataset_writer import DatasetConfig, DatasetWriter
from so101.recording.hdf5_layouts import (
    CheckedEpisode,
    check_episode,
    episode_units,
    file_attribute,
    file_fps,
    find_episodes,
    input_files,
    to_dataset_units,
)
from so101.recording.hdf5_nodes import action_warnings
from so101.recording.staged_output import StagedOutput
from so101.sim.scene import CameraConfig
from so101.sim.task_signals import TASK

log = logging.getLogger(__name__)

Units = Literal["auto", "degrees", "range_m100_100", "radians"]
READ_FRAMES = 32
"""Frames of images read from the file at a time: memory stays bounded whatever the episode's length."""


@dataclass
class ImportedDataset(DatasetConfig):
    """The dataset to create (``--dataset.root``, a new folder; ``--dataset.repo_id``; ``--dataset.vcodec``).

    Its task string comes from ``--task`` or the files, so this block offers no ``--dataset.task``."""

    repo_id: str = "local/so101_imported"
    """Name of the dataset (``user/name``); nothing is uploaded."""
    task: str = field(default=TASK, init=False)

    def with_task(self, task: str) -> DatasetConfig:
        """The writer's settings, with the task string that ``--task`` or the files gave."""
        return DatasetConfig(
            repo_id=self.repo_id, root=self.root, task=task, vcodec=self.vcodec, encoder_threads=self.encoder_threads
        )


@dataclass
class ImportConfig:
    """Options of ``so101 dataset import-hdf5``."""

    input: str = ""
    """HDF5 files or folders of them (``*.hdf5``, ``*.h5``), comma-separated or ``"[a.hdf5, b.hdf5]"``; files of a
    folder are taken in natural order (episode_2 before episode_10)."""
    dataset: ImportedDataset = field(default_factory=ImportedDataset)
    """The dataset to create (``--dataset.root``, a new folder; ``--dataset.repo_id``; ``--dataset.vcodec``)."""
    fps: int | None = None
    """Frames per second of the episodes; default: the files' ``fps`` attribute, else 30."""
    task: str | None = None
    """Task string of every frame; default: the files' ``task`` attribute (export-hdf5 writes it)."""
    units: Units = "auto"
    """Units of the joint values in the files: ``degrees`` (LeRobot's SO-101 units: degrees, gripper 0..100),
    ``range_m100_100`` (older LeRobot), ``radians`` (simulator joints, e.g. LeIsaac); ``auto``: the files' ``units``
    attribute, radians for LeIsaac files."""
    cameras: dict[str, str] = field(default_factory=dict)
    """Camera renaming, file name -> workbench name: ``--cameras "{cam_high: overhead_cam}"``."""

    def __post_init__(self) -> None:
        if not self.input.strip():
            raise ValueError("--input is required: HDF5 files or folders of them")
        if self.fps is not None and self.fps < 1:
            raise ConfigError("fps", self.fps, "must be at least 1")
        if self.task is not None and not self.task.strip():
            raise ValueError("--task must not be empty")


# ---------------------------------------------------------------------- writing


@dataclass
class ImportSummary:
    root: Path
    episodes: int
    frames: int
    problems: list[str]
    """What the dataset checks found (empty when sound)."""


def import_hdf5(cfg: ImportConfig) -> ImportSummary:
    """Check every episode of ``cfg.input``, then write them into a new dataset at ``cfg.dataset``; validate it.

    Raises:
        DatasetError: a file or episode that cannot be imported (nothing is written then).
        FileExistsError: the dataset's folder exists already.
    """
    import av
    import datasets

    root = cfg.dataset.resolved_root()
    if root.exists():
        raise FileExistsError(f"--dataset.root {root} exists already; choose a new folder")
    # Quiet the encoders' per-episode statistics and the progress bars, as `so101 record` does.
    av.logging.set_libav_level(av.logging.ERROR)
    datasets.disable_progress_bars()
    files = input_files(cfg.input)
    sources = [episode for path in files for episode in find_episodes(path, cfg.cameras)]
    if not sources:
        raise DatasetError(f"--input {cfg.input}: no episode to import")
    checked = [check_episode(source) for source in sources]
    shapes = checked[0].image_shapes
    for episode in checked[1:]:
        if episode.image_shapes != shapes:
            raise DatasetError(
                f"{episode.source.name}: cameras {episode.image_shapes} differ from {checked[0].source.name}'s "
                f"{shapes}; one dataset needs the same cameras and image sizes in every episode"
            )
    fps = file_fps(sources, cfg.fps)
    task = cfg.task or file_attribute(sources, "task")
    if not task:
        raise DatasetError("the files carry no task string; give it with --task \"...\"")
    units = {source.name: episode_units(source, cfg.units) for source in sources}
    limits = _model_limits()
    for warning in _unit_warnings(checked, units, limits):
        log.warning("import-hdf5: %s", warning)
    cameras = [CameraConfig(name, width, height) for name, (height, width) in shapes.items()]
    session = _session(cfg, files, fps, cameras, task, sorted(set(units.values())))
    output = StagedOutput(root, "dataset import-hdf5", "--dataset.root")
    with output as staging:
        # Episodes are committed one by one into the staging folder; the dataset appears once all of them are in.
        config = replace(cfg.dataset.with_task(task), root=staging)
        writer = DatasetWriter.create(config, fps, cameras, session, command="dataset import-hdf5")
        frames = 0
        try:
            for episode in checked:
                for state, action, images in _frames(episode, units[episode.source.name], limits):
                    writer.add_frame(state, action, images)
                writer.save_sceneless_episode("imported")
                frames += episode.frames
        except BaseException:
            with contextlib.suppress(Exception):  # the error that stopped the import is the one to report
                writer.finalize()
            raise
        writer.finalize()
        output.commit()
    return ImportSummary(root, len(checked), frames, check_imported(root, cfg.dataset.repo_id))


def _frames(
    episode: CheckedEpisode, units: str, limits: JointLimits
) -> Iterator[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]]:
    """(state, action, images) of each frame before any padding, joints in dataset units; images read
    ``READ_FRAMES`` at a time."""
    import h5py

    source = episode.source
    with h5py.File(source.path, "r") as file:
        states = np.asarray(file[source.state_key], dtype=np.float64)[: episode.frames]
        actions = np.asarray(file[source.action_key], dtype=np.float64)[: episode.frames]
        states, actions = to_dataset_units(states, units, limits), to_dataset_units(actions, units, limits)
        for first in range(0, len(states), READ_FRAMES):
            block = {camera: file[key][first : first + READ_FRAMES] for camera, key in source.images.items()}
            for i in range(min(READ_FRAMES, len(states) - first)):
                yield states[first + i], actions[first + i], {camera: pixels[i] for camera, pixels in block.items()}


def _unit_warnings(checked: list[CheckedEpisode], units: dict[str, str], limits: JointLimits) -> list[str]:
    """What looks wrong with the episodes' actions (integers, values beyond the joints' ranges), one line each."""
    import h5py

    warnings = []
    for episode in checked:
        source = episode.source
        with h5py.File(source.path, "r") as file:
            raw = np.asarray(file[source.action_key])
        converted = to_dataset_units(raw.astype(np.float64), units[source.name], limits)
        found = action_warnings(raw, converted, units[source.name], limits, f"{source.name}: {source.action_key}")
        if found:
            warnings.append("; ".join(found))
    return warnings


def _model_limits() -> JointLimits:
    """The workbench model's joint ranges: the radians <-> dataset units conversion needs the gripper's range."""
    from so101.sim.scene import build_scene

    return build_scene().limits


def _session(
    cfg: ImportConfig, files: list[Path], fps: int, cameras: list[CameraConfig], task: str, units: list[str]
) -> dict[str, object]:
    """The ``recording.json`` entry of an import: where the episodes came from; no scene or model."""
    import time

    import lerobot

    from so101.recording.scene_metadata import workbench_version

    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "workbench_version": workbench_version(),
        "lerobot_version": getattr(lerobot, "__version__", "unknown"),
        "source": "import-hdf5",
        "repo_id": cfg.dataset.repo_id,
        "source_config": {"files": [str(path) for path in files], "units": units, "cameras": dict(cfg.cameras)},
        "fps": fps,
        "cameras": [{"name": c.name, "width": c.width, "height": c.height} for c in cameras],
        "render_profile": None,
        "task": task,
    }


def check_imported(root: Path, repo_id: str) -> list[str]:
    """``so101 dataset validate``'s checks that apply to episodes without scenes: features against the session's
    cameras, fps, robot type, task strings, and every episode's span of every video."""
    from so101.recording.dataset_tools import validate

    return validate(root, repo_id, resimulate=False)


# ---------------------------------------------------------------------- command


def _import(cfg: ImportConfig) -> int:
    summary = import_hdf5(cfg)
    print(
        f"dataset import-hdf5: {summary.episodes} episode(s), {summary.frames} frames written to {summary.root}; "
        "no scenes: its episodes cannot be replayed or re-simulated"
    )
    for problem in summary.problems:
        print(f"  problem: {problem}")
    return 1 if summary.problems else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 dataset import-hdf5``; exits 1 when the written dataset fails its checks."""
    return run_command("dataset import-hdf5", ImportConfig, _import, argv)
