"""Where a dataset is written must be writable and must resolve: checked before any work, in one line each.

A command that writes a dataset (``record``, ``record --resume``, the derived-dataset commands) first takes the
dataset's lock (``so101.recording.dataset_lock``), and the lock checks the place first: a ``--dataset.root`` that is
a symbolic link looping back on itself, or a folder on a read-only filesystem (or one this user may not write),
would otherwise be found out only at the first save, after an episode was recorded or an hour of conversion done.

Read-only is asked of the kernel (``access(2)`` with ``W_OK``, which reports a read-only mount even to root; the
mount's ``ST_RDONLY`` flag names the reason), so it holds for root, for whom permission bits do not.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from so101.errors import DatasetError


def symlink_loop(path: Path) -> Path | None:
    """The symbolic link of ``path`` (itself or a parent folder) that loops back on itself, or None."""
    path = Path(os.path.abspath(path))
    try:
        os.stat(path)
        return None
    except OSError as error:
        if error.errno != errno.ELOOP:
            return None
    for place in [*reversed(path.parents), path]:
        if os.path.islink(place):
            try:
                os.stat(place)
            except OSError as error:
                if error.errno == errno.ELOOP:
                    return place
    return path


def existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest parent that exists."""
    place = Path(os.path.abspath(path))
    while not place.exists() and place != place.parent:
        place = place.parent
    return place


def unwritable(folder: Path) -> str | None:
    """Why this process cannot create files in the existing ``folder`` (a phrase), or None when it can."""
    if os.access(folder, os.W_OK):
        return None
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        return "on a read-only filesystem"
    return "not writable by this user"


def check_writable_place(root: Path, flag: str, existing: bool, fix: str | None = None) -> None:
    """Refuse a dataset folder that cannot be written before any work starts.

    Args:
        root: the dataset folder: a new one (``existing`` False: it and its lock file are created beside it) or an
            existing one written in place (its folder and the one holding it must both be writable).
        flag: the option that named ``root``, for the message.
        existing: ``root`` is an existing dataset the command writes into.
        fix: what the user should do instead, when the command has a better way than the generic advice.

    Raises:
        DatasetError: ``root`` or a parent is a symlink loop; or the place cannot be written.
    """
    loop = symlink_loop(root)
    if loop is not None:
        raise DatasetError(
            f"{flag} {root} cannot be used: {loop} is a symbolic link that loops back on itself; point it at a real "
            f"folder (ln -sfn FOLDER {loop}) or give another {flag}",
            path=root,
        )
    real = Path(os.path.realpath(root))
    places = [real, real.parent] if existing and real.is_dir() else [existing_ancestor(real.parent)]
    for place in places:
        why = unwritable(place)
        if why is not None:
            if fix is None:
                fix = (
                    "copy the dataset to a writable disk (cp -a) or remount it read-write, and give that folder"
                    if existing
                    else f"give a {flag} on a writable disk"
                )
            raise DatasetError(f"{flag} {root} cannot be written: {place} is {why}; {fix}", path=root)
