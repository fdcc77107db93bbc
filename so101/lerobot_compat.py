"""The one boundary to LeRobot's and draccus' internals: every use of their private API lives here.

The workbench pins ``lerobot==0.4.4`` and ``draccus==0.10.0`` and relies on what those versions do inside:

* draccus: decoding ``Literal`` options by value, a field docstring whose first line holds a colon, and ``%`` in
  help text (``patch_draccus``: draccus 0.10 has no hook for any of them);
* LeRobot's dataset writer: the streaming video encoder is replaced by one that waits on a full queue instead of
  dropping the frame (``use_lossless_encoder``); the dataset's folder is redirected while an episode is saved, its
  Parquet writers are closed after every episode and its latest-episode state is cleared (``DatasetInternals``,
  used by ``so101.recording.episode_commit``);
* LeRobot's statistics: pixels are summed as floats, so that image ``std`` in ``meta/stats.json`` is right
  (``correct_image_stats``).
* LeRobot's evaluation rollout: its two env checks read ``env.envs[0]``, which only a ``SyncVectorEnv`` has, so
  ``lerobot-eval --eval.use_async_envs=true`` fails for every env; ``ask_async_workers_for_tasks`` makes them ask
  an ``AsyncVectorEnv``'s workers instead (applied by the env plugin, ``so101.sim.lerobot_env``).

On any other version these would break silently (a patch that no longer applies, an attribute that moved), so each
entry point checks the installed version first and refuses with the fix (``require``). ``tests/test_lerobot_compat.py``
pins the behaviour relied on against the installed versions. Public LeRobot API (datasets, policies, robots,
cameras, processors) is imported where it is used, not here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from so101.errors import DependencyError

if TYPE_CHECKING:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

SUPPORTED = {"lerobot": "0.4.4", "draccus": "0.10.0"}
"""The versions whose internals this module was written against (the pins of pyproject.toml)."""


def installed_version(package: str) -> str:
    """The installed version of ``package`` (``importlib.metadata``), or ``"not installed"``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def require(package: str, needed_for: str) -> None:
    """Raise ``DependencyError`` unless ``package`` is the version in ``SUPPORTED``."""
    installed = installed_version(package)
    if installed != SUPPORTED[package]:
        raise DependencyError(package, installed, SUPPORTED[package], needed_for)


# ------------------------------------------------------------------------------------------------ draccus


def patch_draccus() -> None:
    """Teach draccus 0.10 three things it lacks (idempotent); refuses on another draccus version."""
    from draccus.parsers.decoding import decode
    from draccus.utils import DecodingError
    from draccus.wrappers import docstring

    if getattr(docstring, "_so101_patched", False):
        return
    require("draccus", "the so101 command line (--scene.brick 2x2, field help)")

    def decode_literal(cls: Any, raw_value: Any, path: Sequence[str]) -> Any:
        choices = typing.get_args(cls)
        for choice in choices:
            if raw_value == choice or str(raw_value) == str(choice):
                return choice
        raise DecodingError(path, f"{raw_value!r} is not one of {', '.join(map(str, choices))}")

    # draccus decodes a Literal by type, so "--scene.brick 2x2" (a str that looks like nothing else) is refused.
    decode.register(typing.Literal, decode_literal, include_subclasses=True)
    # draccus takes a field docstring whose first line holds one colon ("Control rate (Hz): ...") for another
    # field definition and shows no help for the option; a line that opens a string literal is never a field.
    is_field = docstring._contains_attribute_definition
    docstring._contains_attribute_definition = lambda line: not line.lstrip().startswith(('"', "'")) and is_field(
        line
    )
    # argparse formats help text with %: a field docstring saying "10 %" would crash --help.
    read_docstring = docstring.get_attribute_docstring

    def escaped_docstring(cls: type, name: str) -> Any:
        doc = read_docstring(cls, name)
        return dataclasses.replace(doc, **{k: v.replace("%", "%%") for k, v in dataclasses.asdict(doc).items()})

    docstring.get_attribute_docstring = escaped_docstring
    docstring._so101_patched = True


# ------------------------------------------------------------------------------------------ video decoder


TORCHVISION_VIDEO_WARNING = "The video decoding and encoding capabilities of torchvision are deprecated"
"""The start of the warning torchvision >= 0.22 gives on every use of its video reader."""


def quiet_torchvision_video_warning() -> None:
    """Hide torchvision's deprecation warning of its video reader, and only that warning (idempotent).

    LeRobot 0.4.4 decodes dataset videos with torchcodec when it is importable, else through torchvision's
    ``VideoReader`` (``decode_video_frames_torchvision``), which warns on every dataset opened. The warning is
    addressed to LeRobot (it moved to torchcodec after 0.4.4), and a user can do nothing about it but install
    torchcodec where it exists; other warnings, torchvision's included, stay as they are.
    """
    import warnings

    warnings.filterwarnings(
        "ignore", message=TORCHVISION_VIDEO_WARNING, category=UserWarning, module=r"torchvision\.io\."
    )


# ------------------------------------------------------------------------------------------ video encoder


def use_lossless_encoder(dataset: LeRobotDataset, encoder_threads: int | None) -> None:
    """Replace ``dataset``'s streaming encoder by one that waits for a full queue instead of dropping the frame.

    LeRobot 0.4.4 has no option for this; the replacement relies on that version's private attributes
    (``LeRobotDataset._streaming_encoder``; the encoder's ``_frame_queues``, ``_threads``, ``_result_queues``).
    ``encoder_threads``: threads per camera encoder (None: the codec's default).
    """
    import numpy as np
    from lerobot.datasets.video_utils import StreamingVideoEncoder

    require("lerobot", "lossless video recording")

    class WaitingEncoder(StreamingVideoEncoder):
        def feed_frame(self, video_key: str, image: np.ndarray) -> None:
            frames = self._frame_queues[video_key]
            while True:
                try:
                    frames.put(image.copy(), timeout=1.0)
                    return
                except queue.Full:
                    if not self._threads[video_key].is_alive():
                        reason = self._thread_error(video_key)
                        raise RuntimeError(f"the video encoder of {video_key} stopped: {reason}") from None

        def _thread_error(self, video_key: str) -> str:
            try:
                status, data = self._result_queues[video_key].get_nowait()
            except queue.Empty:
                return "no reason given"
            return str(data) if status == "error" else "it ended early"

    previous = dataset._streaming_encoder
    if previous is not None:
        previous.close()
    # Same settings as LeRobot's own streaming encoder (lerobot_dataset.py, LeRobotDataset.create).
    dataset._streaming_encoder = WaitingEncoder(
        fps=dataset.fps,
        vcodec=dataset.vcodec,
        pix_fmt="yuv420p",
        g=2,
        crf=30,
        preset=None,
        queue_maxsize=30,
        encoder_threads=encoder_threads,
    )


# ------------------------------------------------------------------------------------------ statistics


def correct_image_stats() -> None:
    """Make LeRobot's running statistics take integer batches (uint8 pixels) as float64 (idempotent).

    Every dataset the workbench writes or rebuilds computes its statistics through LeRobot's ``RunningQuantileStats``
    (the streaming encoder's per-episode image statistics, ``compute_episode_stats``); call this before writing.
    """
    import numpy as np
    from lerobot.datasets.compute_stats import RunningQuantileStats

    if getattr(RunningQuantileStats, "_so101_float_batches", False):
        return
    require("lerobot", "correct image statistics in meta/stats.json")
    update = RunningQuantileStats.update

    def update_in_floats(self: RunningQuantileStats, batch: np.ndarray) -> None:
        # LeRobot 0.4.4 squares uint8 pixels in uint8 (batch**2 wraps at 256), which makes the image std of
        # stats.json 0.0006-0.014 where the frames' std is ~0.1: a policy normalising by it (use_imagenet_stats
        # false) divides by garbage. Fixed upstream after 0.4.4 (huggingface/lerobot#3697) the same way.
        if np.issubdtype(batch.dtype, np.integer):
            batch = batch.astype(np.float64)
        update(self, batch)

    RunningQuantileStats.update = update_in_floats
    RunningQuantileStats._so101_float_batches = True


# ------------------------------------------------------------------------------------------ dataset writer


class DatasetInternals:
    """The writer state of one ``LeRobotDataset`` (and its metadata) that durable episode commits steer.

    LeRobot 0.4.4 keeps its Parquet writers open across episodes, buffers episodes metadata and continues files
    from the latest episode; these operations redirect, close and reset that state between episodes.
    """

    def __init__(self, dataset: LeRobotDataset) -> None:
        require("lerobot", "durable dataset recording")
        self.dataset = dataset
        self.meta = dataset.meta

    def appendable_episodes(self) -> list[dict[str, Any]]:
        """Replace the metadata's episodes table by a plain list of rows and return it (the caller appends).

        LeRobot reads only its last row while writing (to continue file indices and frame ranges); a list can be
        appended to, a loaded ``datasets.Dataset`` cannot.
        """
        episodes = self.meta.episodes
        rows: list[dict[str, Any]] = [] if episodes is None else [dict(row) for row in episodes]
        self.meta.episodes = rows
        return rows

    def point_at(self, root: Path, meta_root: Path | None = None) -> None:
        """Make the dataset write under ``root`` (and its metadata under ``meta_root``, when given)."""
        self.dataset.root = root
        if meta_root is not None:
            self.meta.root = meta_root

    def close_writers(self) -> None:
        """Close the data and episodes-metadata Parquet writers: their files are whole on disk."""
        self.dataset._close_writer()
        self.meta._close_writer()

    def latest_episode_row(self) -> dict[str, Any]:
        """The ``meta/episodes`` row of the episode just saved (its files, frame range and statistics)."""
        latest = self.meta.latest_episode
        return {key: value[0] if isinstance(value, list) else value for key, value in latest.items()}

    def take_latest_episode(self) -> dict[str, Any]:
        """The metadata row of the episode just saved, and clear the latest-episode state so that the next episode
        starts new data, video and metadata files (LeRobot's own resume path)."""
        row = self.latest_episode_row()
        self.dataset.latest_episode = None
        self.meta.latest_episode = None
        return row

    def abandon_writers(self) -> None:
        """Forget buffered metadata and drop the open writers (closing them where possible) after a failed save:
        otherwise ``finalize`` or their ``__del__`` would write into a folder that is about to be removed."""
        self.meta.metadata_buffer.clear()
        for owner in (self.dataset, self.meta):
            writer, owner.writer = owner.writer, None
            if writer is not None:
                # A full disk may fail the close: the file is in the staged version, which is discarded.
                with contextlib.suppress(OSError):
                    writer.close()


# ------------------------------------------------------------------------------------------ evaluation rollout


def ask_async_workers_for_tasks() -> None:
    """Let LeRobot 0.4.4's ``lerobot-eval`` roll out an ``AsyncVectorEnv`` (idempotent; nothing on other versions).

    ``lerobot.envs.utils.check_env_attributes_and_types`` and ``add_envs_task`` read ``env.envs[0]``, an attribute of
    ``SyncVectorEnv`` only: with ``--eval.use_async_envs=true`` the first rollout raises ``AttributeError``. With a
    ``SyncVectorEnv`` both stay LeRobot's own; with another vector env the check (which only warns) is skipped and the
    task strings come from the workers (``env.call``), as LeRobot does after 0.4.4.
    """
    import sys

    if installed_version("lerobot") != SUPPORTED["lerobot"]:
        return
    from lerobot.envs import utils

    if getattr(utils, "_so101_async_tasks", False):
        return
    check_env, add_task = utils.check_env_attributes_and_types, utils.add_envs_task

    def check_env_attributes_and_types(env: Any) -> None:
        if hasattr(env, "envs"):
            check_env(env)

    def add_envs_task(env: Any, observation: dict[str, Any]) -> dict[str, Any]:
        if hasattr(env, "envs"):
            return add_task(env, observation)
        for name in ("task_description", "task"):
            if all(env.call("has_wrapper_attr", name)):
                observation["task"] = [str(task) for task in env.call(name)]
                return observation
        observation["task"] = [""] * env.num_envs
        return observation

    # lerobot_eval imports both by name: patched there too when it is already imported (lerobot-eval loads the
    # env plugin after importing it).
    modules = [utils, sys.modules.get("lerobot.scripts.lerobot_eval")]
    for module in (module for module in modules if module is not None):
        module.check_env_attributes_and_types = check_env_attributes_and_types
        module.add_envs_task = add_envs_task
    utils._so101_async_tasks = True
