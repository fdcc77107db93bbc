"""An existing dataset replaced by a new version of it in one atomic step, the original kept as a backup.

``so101 dataset delete-episodes`` without ``--output`` writes the new dataset into the hidden work folder
``<parent>/.<name>.so101-staging`` while it holds the dataset's lock (``so101.recording.dataset_lock``), then:

1. writes the marker ``<parent>/.<name>.so101-replacing`` (fsynced): the backup's name, the new folder's inode and
   the command's request;
2. exchanges the new folder and the dataset folder (``renameat2(RENAME_EXCHANGE)``, one atomic step; where the
   filesystem cannot, the dataset is renamed to the backup, then the new folder to the dataset);
3. renames the work folder, which now holds the original, to the backup ``<name>.backup-<time>``;
4. removes the marker.

A kill at any instant leaves the original dataset or the new one at ``<name>``, each complete. The next run, which
finds the lock free (whoever wrote is dead), finishes or undoes what the marker describes: when the dataset folder is
the new one (its inode is the marker's), or missing (the two renames were cut), the replacement is completed;
otherwise the unfinished new folder is removed and the original stays. It says what it did, and tells the caller
which request a completed replacement carried out, so that the same command run again does not apply it twice.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

from so101.recording.atomic_file import exchange, fsync_dir, fsync_tree, write_atomic
from so101.recording.crash_points import crash_point
from so101.recording.staged_output import staging_dir

MARKER_SUFFIX = ".so101-replacing"

log = logging.getLogger(__name__)


class InPlaceReplacement:
    """The replacement of the dataset folder ``root`` by a new version; the caller holds the dataset's lock.

    Args:
        root: the existing dataset folder.
        command: the command, for its messages (``"dataset delete-episodes"``).
    """

    def __init__(self, root: Path, command: str) -> None:
        self.root = Path(os.path.realpath(root))
        self.staging = staging_dir(self.root)
        self.marker = self.root.parent / f".{self.root.name}{MARKER_SUFFIX}"
        self.command = command

    def recover(self) -> str | None:
        """Finish or undo the replacement of a run that was killed; returns the request of a replacement it
        completed, None when there was none (an unfinished new folder is removed)."""
        if not self.marker.exists():
            if self.staging.exists():
                shutil.rmtree(self.staging)
                log.info("%s: removed %s, the unfinished output of a run that was killed", self.command, self.staging)
            return None
        plan = json.loads(self.marker.read_text())
        backup = self.root.parent / plan["backup"]
        if self.root.exists() and os.stat(self.root).st_ino != plan["inode"]:
            # Killed before the exchange: the original is in place, the new version is dropped.
            shutil.rmtree(self.staging, ignore_errors=True)
            self._done()
            what = f"the output of a run killed before it replaced {self.root}"
            log.info("%s: removed %s, %s", self.command, self.staging, what)
            return None
        if not self.root.exists():
            os.rename(self.staging, self.root)  # the two renames were cut: the original is the backup already
        elif self.staging.exists():
            os.rename(self.staging, backup)
        self._done()
        log.info(
            "%s: completed the replacement of %s by a run that was killed (%s); the original is in %s",
            self.command, self.root, plan["request"], backup,
        )  # fmt: skip
        return str(plan["request"])

    def replace(self, request: str) -> Path:
        """Make the complete new version in ``staging`` the dataset; returns the backup holding the original.

        Args:
            request: what the new version carries out (``"--episodes [1, 3]"``), kept for a rerun after a kill.
        """
        backup = self.root.with_name(f"{self.root.name}.backup-{time.strftime('%Y%m%d-%H%M%S')}")
        fsync_tree(self.staging)
        plan = {"backup": backup.name, "inode": os.stat(self.staging).st_ino, "request": request}
        write_atomic(self.marker, json.dumps(plan))
        crash_point("derived:staged")
        if exchange(self.staging, self.root):
            fsync_dir(self.root.parent)
            crash_point("derived:exchanged")
            os.rename(self.staging, backup)
        else:
            os.rename(self.root, backup)
            os.rename(self.staging, self.root)
        self._done()
        return backup

    def _done(self) -> None:
        fsync_dir(self.root.parent)
        self.marker.unlink()
        fsync_dir(self.root.parent)
