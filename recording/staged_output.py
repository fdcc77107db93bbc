"""A derived dataset appears whole or not at all: written into a hidden work folder, then moved into place by one
rename.

The commands that make a new dataset out of others (``dataset merge``, ``dataset delete-episodes``, ``dataset
import-hdf5``, ``dataset repair``, ``convert-ee``) write into ``<parent>/.<name>.so101-staging`` while they hold the
output's lock (``so101.recording.dataset_lock``), fsync it, and rename it to ``<parent>/<name>`` (same filesystem: the
rename is atomic). A kill at any instant leaves no output folder, never a partial dataset that validates; the
staging folder it leaves is recognised as a dead run's leftovers because its lock can be taken, removed by the next
run, and reported.

A full disk is met the same way wherever it strikes (LeRobot's parquet writer, a video encoder, h5py, a copy): the
staging folder is removed and the command ends with one line (``DiskFullError``) saying what the output needs, what
is free and where. A command that knows its output's size beforehand (``need``) is refused before any work when it
cannot fit.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import TracebackType

from so101.recording.atomic_file import fsync_dir, fsync_tree
from so101.recording.crash_points import crash_point
from so101.recording.dataset_lock import DatasetLock
from so101.recording.disk_space import check_room, filled_up, filled_up_error, tree_bytes

STAGING_SUFFIX = ".so101-staging"


def staging_dir(output: Path) -> Path:
    """The hidden work folder of the derived dataset ``output``."""
    output = Path(os.path.abspath(output))
    return output.parent / f".{output.name}{STAGING_SUFFIX}"


class StagedOutput:
    """The output of one derived-dataset command; ``with StagedOutput(...) as staging:`` write into ``staging``
    (it does not exist yet), then call ``commit``. Leaving the block without a commit removes what was written.

    Args:
        output: the dataset folder to create; it must not exist.
        command: the command, for its messages and the lock (``"dataset merge"``).
        flag: the option that named ``output`` (``--output.root``), for messages.
        need: bytes the output will take at least, when the command can tell beforehand: less free space refuses
            the command before any work. None: only a disk that fills up on the way is reported.
    """

    def __init__(self, output: Path, command: str, flag: str, need: int | None = None) -> None:
        self.output = Path(output)
        self.staging = staging_dir(self.output)
        self.command = command
        self.flag = flag
        self.need = need
        self.lock = DatasetLock(self.output, command, flag)
        self.committed = False

    def __enter__(self) -> Path:
        self.lock.acquire()
        try:
            if self.staging.exists():
                # The lock was free: whoever wrote this is dead.
                shutil.rmtree(self.staging)
                print(f"{self.command}: removed {self.staging}, the unfinished output of a run that was killed")
            if self.output.exists():
                raise FileExistsError(f"{self.flag} {self.output} exists already; choose a new folder")
            self.output.parent.mkdir(parents=True, exist_ok=True)
            if self.need is not None:
                check_room(self.output, self.flag, self.need, "the new dataset")
        except BaseException:
            self.lock.release()
            raise
        return self.staging

    def commit(self) -> None:
        """Make the staged dataset the output, durably, in one rename."""
        fsync_tree(self.staging)
        crash_point("derived:staged")
        os.rename(self.staging, self.output)
        fsync_dir(self.output.parent)
        self.committed = True

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if self.committed:
                return
            full = error is not None and filled_up(error, self.output.parent)
            written = tree_bytes(self.staging) if full else 0
            shutil.rmtree(self.staging, ignore_errors=True)
            if full:
                place = self.output.parent
                raise filled_up_error(self.command, place, self.flag, "the new dataset", self.need, written) from error
        finally:
            self.lock.release()
