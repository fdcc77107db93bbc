"""Disk space for a recording: an estimate of what an episode needs, checked before the session starts, and the
recognition of a full disk (ENOSPC) wherever it strikes (a video encoder thread, LeRobot's parquet writer, a copy).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from so101.errors import DiskFullError

VIDEO_BYTES_PER_PIXEL = 0.04
"""Video bytes per pixel and frame used for the estimate: h264 at LeRobot's crf 30 measured 0.006 on the simulated
scene (``so101 bench record``: 518 kB for 288 frames at 640x480); the margin covers busier images and AV1."""
FRAME_BYTES = 200
"""Parquet bytes per frame (state, action, indices: about 75 measured, with margin)."""
SESSION_BYTES = 2 * 1024 * 1024
"""Metadata, the staged copy of the small files and the file system's own blocks."""
FULL_BYTES = 1024 * 1024
"""A write that fails while less than this is free is taken for a full disk."""


def episode_bytes(fps: int, episode_time_s: float, cameras: list[tuple[int, int]]) -> int:
    """Bytes one episode of at most ``episode_time_s`` seconds may need, for cameras of (width, height)."""
    frames = round(fps * episode_time_s)
    pixels = sum(width * height for width, height in cameras)
    return int(frames * (pixels * VIDEO_BYTES_PER_PIXEL + FRAME_BYTES))


def free_bytes(root: Path) -> int:
    """Free bytes on the filesystem that holds (or will hold) ``root``."""
    place = Path(root).absolute()
    while not place.exists() and place != place.parent:
        place = place.parent
    return shutil.disk_usage(place).free


def tree_bytes(root: Path) -> int:
    """Bytes of the files under ``root`` (0 when it does not exist); links are not followed."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += (Path(folder) / name).lstat().st_size
            except FileNotFoundError:
                continue
    return total


def mb(count: float) -> str:
    """A size for people: MB, or kB below one MB."""
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"


def check_free_space(root: Path, per_episode: int, episodes: int) -> str | None:
    """Refuse to start without room for one episode; a warning line when not all ``episodes`` fit, else None.

    Raises:
        DiskFullError: less free space than one episode (and the session's metadata) needs.
    """
    free = free_bytes(root)
    if free < per_episode + SESSION_BYTES:
        raise DiskFullError(
            f"the disk holding {root} has {mb(free)} free; one episode needs about {mb(per_episode + SESSION_BYTES)} "
            "(--episode_time_s, --cameras.*): free some space or choose another --dataset.root",
            path=root,
            need=per_episode + SESSION_BYTES,
            free=free,
        )
    if free < per_episode * episodes + SESSION_BYTES:
        room = (free - SESSION_BYTES) // per_episode
        return (
            f"record: the disk holding {root} has {mb(free)} free, room for about {room} of {episodes} episodes "
            f"({mb(per_episode)} each at most); a full disk ends the session keeping every saved episode"
        )
    return None


def check_room(path: Path, flag: str, need: int, what: str) -> None:
    """Refuse a command whose output ``path`` (given as ``flag``; ``what`` it holds, e.g. "the new dataset") takes
    ``need`` bytes, before it starts, when its disk has less free.

    Raises:
        DiskFullError: less than ``need`` is free.
    """
    free = free_bytes(path)
    if free < need:
        raise DiskFullError(
            f"{flag} {path}: its disk has {mb(free)} free, {what} needs about {mb(need)}; free some space or choose "
            f"a {flag} on another disk",
            path=path,
            need=need,
            free=free,
        )


def filled_up(error: BaseException, place: Path) -> bool:
    """Whether ``error`` ended a write on the disk of ``place`` because it is full: ENOSPC in it, or almost nothing
    left free (some libraries turn the ENOSPC into a message of their own)."""
    return isinstance(error, Exception) and (is_disk_full(error) or free_bytes(place) < FULL_BYTES)


def filled_up_error(command: str, place: Path, flag: str, what: str, need: int | None, written: int) -> DiskFullError:
    """The one-line error of a disk (holding ``place``) that filled up after ``written`` bytes of ``what`` (which
    the caller removed); ``need`` is what ``what`` takes, when known."""
    free = free_bytes(place)
    needed = f"about {mb(need)}" if need is not None else f"more than the {mb(written)} written"
    return DiskFullError(
        f"{command}: the disk holding {place} is full: {what} needs {needed}, {mb(free)} is free; what was written "
        f"is removed: free some space or choose a {flag} on another disk, and run again",
        path=place,
        need=need if need is not None else written,
        free=free,
    )


def is_disk_full(error: BaseException | None) -> bool:
    """Whether ``error`` or one of its causes is ENOSPC (some arrive as text, from an encoder thread)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return True
        text = str(error).lower()
        if "no space left on device" in text or "[errno 28]" in text:
            return True
        error = error.__cause__ or error.__context__
    return False
