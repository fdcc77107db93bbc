"""One writer per dataset: an advisory lock that every command writing a dataset folder holds while it writes.

The lock is ``fcntl.flock`` on a hidden file beside the dataset, ``<parent>/.<name>.so101-lock``. It lives outside
both the dataset folder and its work folder (``so101.recording.durable_root``) because those are exchanged and removed
while a session runs; the lock file keeps one place. The holder writes its PID and command into the file, so that
a second writer is refused in one line naming the process to wait for.

The kernel drops a ``flock`` when its holder dies, however it dies (kill -9, a power cut ends every process
anyway): a lock that can be taken means that no live process writes the dataset, and whatever a writer left
beside the dataset (work folders, staged outputs) is a dead session's leftovers, safe to remove. Their existence
alone proves nothing.

The holder removes the lock file when it releases; a writer that opened the file just before it was removed would
hold a lock on a name nobody sees, so ``acquire`` checks after locking that the path still names the file it locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from so101.errors import So101Error
from so101.recording.dataset_place import check_writable_place, existing_ancestor, symlink_loop, unwritable

LOCK_SUFFIX = ".so101-lock"
HOLDER_WAIT_S = 1.0
"""How long a refused writer waits for the holder to write its PID (it does so right after taking the lock)."""


def lock_path(root: Path) -> Path:
    """The lock file of the dataset at ``root`` (symlinks resolved: two paths to one dataset share its lock)."""
    real = Path(os.path.realpath(root))
    return real.parent / f".{real.name}{LOCK_SUFFIX}"


class DatasetBusy(So101Error):
    """Another live process holds the dataset's lock."""


class DatasetLock:
    """The write lock of one dataset folder; a context manager (``with DatasetLock(root, "record"):``).

    Args:
        root: the dataset folder (it need not exist yet: a new dataset is locked before it is created).
        command: the command taking the lock, as the user typed it (``"record"``, ``"dataset merge"``), written
            into the lock file for the message a second writer gets.
        flag: the option that named the folder, for that message (``--dataset.root``, ``--output.root``).
        create_parent: create the folder the dataset goes in (a new dataset's); False for an existing dataset,
            whose missing parent means there is nothing to lock (the command then says the dataset is missing).
        reading: the holder only reads the dataset (the source of ``delete-episodes --output``): a dataset on a
            read-only place is read without a lock, since no one can write it either.
        fix: the advice for a dataset that cannot be written, when the command has a better one than the generic
            (``so101.recording.dataset_place``).

    Before locking, the place is checked (``so101.recording.dataset_place``): a symlink loop or a place that cannot
    be written is refused in one line, before the command does any work.
    """

    def __init__(
        self, root: Path, command: str, flag: str = "--dataset.root", create_parent: bool = True,
        reading: bool = False, fix: str | None = None,
    ) -> None:  # fmt: skip
        self.root = Path(root)
        self.path = lock_path(root)
        self.command = command
        self.flag = flag
        self.create_parent = create_parent
        self.reading = reading
        self.fix = fix
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> DatasetLock:
        """Take the lock without waiting; returns self.

        Raises:
            DatasetBusy: a live process holds it (the message names its PID and command).
            DatasetError: the place is a symlink loop, or cannot be written (``so101.recording.dataset_place``).
        """
        if self._fd is not None:
            return self
        if self.reading and symlink_loop(self.root) is None:
            if unwritable(existing_ancestor(self.path.parent)) is not None:
                return self
        else:
            check_writable_place(self.root, self.flag, existing=not self.create_parent, fix=self.fix)
        if not self.path.parent.is_dir():
            if not self.create_parent:
                return self
            self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise DatasetBusy(self._busy_message()) from None
            if self._names(fd):
                break
            # The holder before us removed the file between our open and our lock: lock the current one.
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {self.command}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up and remove the lock file (still locked while it is removed: no writer can slip in)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if self._names(fd):
                self.path.unlink()
        finally:
            os.close(fd)

    @contextmanager
    def released_on_error(self) -> Iterator[DatasetLock]:
        """Take the lock for a writer that keeps it past this block (until its own ``finalize``) when the block
        succeeds, and releases it when the block fails."""
        self.acquire()
        try:
            yield self
        except BaseException:
            self.release()
            raise

    def __enter__(self) -> DatasetLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()

    def _names(self, fd: int) -> bool:
        """The lock file's path still names the file open as ``fd``."""
        try:
            here = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)

    def _busy_message(self) -> str:
        holder = ""
        deadline = time.monotonic() + HOLDER_WAIT_S
        while not holder and time.monotonic() < deadline:
            try:
                holder = self.path.read_text().strip()
            except FileNotFoundError:
                break
            if not holder:
                time.sleep(0.05)
        pid, _, command = holder.partition(" ")
        who = f"PID {pid} (so101 {command})" if pid.isdigit() else "a process that has not said its PID yet"
        return (
            f"{self.flag} {self.root} is being written by another process, {who}; wait for it to end (or stop it), "
            "or choose another folder"
        )

