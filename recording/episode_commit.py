"""LeRobot's own episode writing, made durable: each ``save_episode`` lands in a new complete version of the folder.

LeRobot 0.4.4 keeps the data and episodes-metadata ``ParquetWriter``s open across episodes (their footers are
written at ``finalize``), buffers episodes metadata, appends every episode's video to one file per camera, and
rewrites ``info.json`` and ``stats.json`` in place: a kill -9 leaves a dataset nothing can open. Here LeRobot still
writes every file, through ``LeRobotDataset.save_episode``, but

* into the staged next version of a ``DurableRoot`` (its ``root`` attributes point there during the save), the
  videos of the episode in progress into the work folder's ``stream/``;
* with both writers closed after every episode, and the latest-episode state cleared so that the next episode
  starts new data, video and metadata files (LeRobot's own resume path): no file of a committed version is
  ever written again;
* with the SHA-256 of the episode's data and video files added to ``meta/so101/content_hashes.jsonl``
  (``so101.recording.content_hashes``), against silent bit rot;
* then the version is committed with the episode's scene, in one atomic folder exchange.

Measured cost: docs/results/durability.md (``so101 bench record`` before and after).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from so101.lerobot_compat import DatasetInternals
from so101.recording.content_hashes import append_episode
from so101.recording.crash_points import crash_point
from so101.recording.durable_root import DurableRoot

if TYPE_CHECKING:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset


class EpisodeCommitter:
    """Saves the episode in progress of ``dataset`` as one atomic commit of ``durable``."""

    def __init__(self, dataset: LeRobotDataset, durable: DurableRoot) -> None:
        self.dataset = dataset
        self.durable = durable
        # LeRobot's writer state, steered through the one adapter to its internals.
        self.internals = DatasetInternals(dataset)
        self._episodes: list[dict[str, Any]] = self.internals.appendable_episodes()
        self.committed = int(dataset.meta.total_episodes)
        """Episodes in the dataset folder on disk (LeRobot's counters run ahead while a save is in progress)."""
        durable.begin()
        self.internals.point_at(durable.stream)

    def save(self, write_extra: Callable[[Path], None]) -> None:
        """Write the episode in progress, then ``write_extra(version_root)`` (the scene), and commit both.

        On an error the dataset folder keeps its previous version; the recording cannot go on.
        """
        first = not self.durable.root.exists()
        # The first version is the folder LeRobotDataset.create made in the work folder.
        try:
            target = self.durable.next if first else self.durable.stage()
            crash_point("save:staged")
            self.internals.point_at(target, target)
            self.dataset.save_episode()
            self.internals.close_writers()
            # The finished files, hashed once while the page cache still holds them (meta/so101, beside the scene).
            append_episode(target, self.dataset.meta.info, self.internals.latest_episode_row())
            write_extra(target)
            crash_point("save:written")
            self.durable.commit()
        except BaseException:
            self._abandon()
            raise
        self.committed += 1
        self._episodes.append(self.internals.take_latest_episode())
        self.internals.point_at(self.durable.stream, self.durable.root)

    def _abandon(self) -> None:
        """Forget a failed save: LeRobot's buffered metadata and open writers would otherwise be written into the
        work folder by ``finalize`` or by their ``__del__``, after the work folder is removed."""
        self.internals.abandon_writers()
        self.internals.point_at(self.durable.stream)

    def close(self) -> None:
        """End the session: LeRobot's encoder and writers (closed after every save), and the work folder."""
        try:
            # Only a failed save (a full disk) leaves an encoder in a bad state, writing into the work folder
            # removed below: the dataset folder holds the last committed version whatever happens here.
            with contextlib.suppress(OSError, RuntimeError):
                self.dataset.finalize()
        finally:
            self.durable.close()
