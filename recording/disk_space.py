"""Disk space for a recording: an estimate of what an episode needs, checked before the session starts, and the
recognition of a full disk (ENOSPC) wherever it strikes (a video encoder thread, LeRobot's parquet writer, a copy).
"""

from __future__ import annotations

import errno
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


def is_disk_full(error: BaseException | None) -> bool:
    """Whether ``error`` or one of its causes is ENOSPC (some arrive as text, from an encoder thread)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(error) or "[Errno 28]" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False
