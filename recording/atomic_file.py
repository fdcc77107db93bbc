"""Writes that survive a kill -9 or a power cut at any instant: whole files and whole folders, old or new.

* ``write_atomic(path, data)``: a temporary file in the same folder, flushed and fsync'ed, renamed over ``path``,
  then the folder fsync'ed: a reader sees the old content or the new one, never a truncated file.
* ``exchange(a, b)``: swaps two folders of one filesystem in one step (Linux ``renameat2(RENAME_EXCHANGE)``).
* ``fsync_dir`` / ``fsync_tree``: make renames, links and new files durable before they are relied upon.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

RENAME_EXCHANGE = 2
"""``renameat2`` flag of Linux >= 3.15 (ext4, xfs, btrfs, tmpfs, ...)."""
AT_FDCWD = -100


def fsync_dir(path: Path) -> None:
    """Make the entries of folder ``path`` (new files, renames, links, removals) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file written in ``root`` (those with one link: hard links share the data of synced files) and
    every folder, deepest first, so that a power cut after this returns keeps the whole tree."""
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            path = Path(folder) / name
            if path.lstat().st_nlink == 1:
                fsync_file(path)
        fsync_dir(Path(folder))


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace ``path`` by ``data`` (text is UTF-8) so that a crash leaves the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    payload = data.encode() if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def exchange(a: Path, b: Path) -> bool:
    """Swap folders ``a`` and ``b`` atomically; False when the system or filesystem cannot (the caller falls back)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    result = renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))
