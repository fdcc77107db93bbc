"""A dataset folder that only ever holds complete episodes: every save replaces it whole, in one atomic step.

While a session records into ``<parent>/<name>``, its writes go to a hidden work folder beside it,
``<parent>/.<name>.so101-work`` (same filesystem, so renames are atomic):

* ``stream/``: the videos being encoded for the episode in progress;
* ``next/``: the next version of the dataset: hard links to the files of the current version that are never
  rewritten (data, videos, episodes metadata: one file per episode, written once), copies of those that are
  (``meta/info.json``, ``stats.json``, ``tasks.parquet``, ``meta/so101/*``), plus the episode being saved.

``commit`` fsyncs ``next/`` and exchanges it with the dataset folder (``renameat2(RENAME_EXCHANGE)``; where the
filesystem cannot, two renames under a marker file that ``recover`` completes). A kill -9 or a power cut at any
instant therefore leaves the previous version or the new one, both complete for stock ``LeRobotDataset``; the work
folder is then only leftovers of an unsaved episode, which ``recover`` removes. The first commit creates the
dataset folder: a session that saved nothing leaves nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from so101.recording.atomic_file import exchange, fsync_dir, fsync_tree
from so101.recording.crash_points import crash_point

WORK_SUFFIX = ".so101-work"
LINKED_DIRS = ("data", "videos", "meta/episodes")
"""Folders whose files LeRobot writes once under a new name per episode: shared between versions by hard links."""


def work_dir(root: Path) -> Path:
    """The hidden work folder of the dataset at ``root``."""
    root = Path(os.path.abspath(root))
    return root.parent / f".{root.name}{WORK_SUFFIX}"


class DurableRoot:
    """Stages and commits versions of one dataset folder."""

    def __init__(self, root: Path) -> None:
        # A symlinked dataset folder is replaced behind its link, not the link itself.
        self.root = Path(os.path.realpath(root))
        self.work = work_dir(self.root)
        self.next = self.work / "next"
        self.stream = self.work / "stream"
        self._marker = self.work / "committing"
        self._old = self.work / "old"
        self._links = True

    def recover(self) -> list[str]:
        """Complete or undo a commit a crash interrupted, then drop the leftovers of unsaved episodes.

        Returns what was removed, one phrase each, for the user to read.
        """
        if not self.work.exists():
            return []
        if self._marker.exists() and not self.root.exists():
            # The crash fell between the two renames of a fallback commit: the staged version is complete.
            source = self.next if self.next.is_dir() else self._old
            os.rename(source, self.root)
            fsync_dir(self.root.parent)
        removed = []
        if self.stream.is_dir() and any(self.stream.iterdir()):
            removed.append("the videos of an episode in progress")
        if self.next.is_dir() and not self._marker.exists():
            # Before the first commit, next/ is the new dataset itself, still without a saved episode.
            saving = self.root.exists()
            removed.append("an episode that was being saved" if saving else "a dataset with no saved episode")
        shutil.rmtree(self.work)
        fsync_dir(self.work.parent)
        return removed

    def begin(self) -> None:
        """Start a session: an empty work folder (``recover`` ran first)."""
        self.stream.mkdir(parents=True, exist_ok=True)

    def stage(self) -> Path:
        """Make ``next/`` the current version of the dataset, to write one more episode into; returns it."""
        if self.next.exists():
            shutil.rmtree(self.next)
        linked = {self.root / name for name in LINKED_DIRS}
        for folder, dirs, files in os.walk(self.root):
            here = Path(folder)
            target = self.next / here.relative_to(self.root)
            target.mkdir(parents=True, exist_ok=True)
            dirs.sort()
            shared = any(here == base or base in here.parents for base in linked)
            for name in files:
                if shared and self._links:
                    try:
                        os.link(here / name, target / name)
                        continue
                    except OSError:
                        # A filesystem without hard links (FAT, exFAT, some network shares): copies, slower.
                        self._links = False
                shutil.copy2(here / name, target / name)
        return self.next

    def commit(self) -> None:
        """Make ``next/`` the dataset folder, durably; the previous version is removed."""
        fsync_tree(self.next)
        if not self.root.exists():
            os.rename(self.next, self.root)
            fsync_dir(self.root.parent)
            crash_point("save:committed")
            return
        if exchange(self.next, self.root):
            fsync_dir(self.root.parent)
            fsync_dir(self.work)
        else:
            self._commit_by_renames()
        crash_point("save:committed")
        shutil.rmtree(self.next)

    def _commit_by_renames(self) -> None:
        self._marker.touch()
        fsync_dir(self.work)
        os.rename(self.root, self._old)
        os.rename(self.next, self.root)
        fsync_dir(self.root.parent)
        os.rename(self._old, self.next)
        self._marker.unlink()
        fsync_dir(self.work)

    def close(self) -> None:
        """End the session: the work folder holds nothing saved."""
        shutil.rmtree(self.work, ignore_errors=True)
