"""Named instants at which a recording can be made to die by ``kill -9``, to prove that nothing saved is lost.

``SO101_CRASH_AT=<point>:<k>`` makes the process SIGKILL itself the k-th time (1-based) it reaches ``<point>``;
unset, ``crash_point`` only compares a string. The durability tests use it to kill a recording at exact places
(inside the save of an episode, between the write and the commit, during finalize) instead of at random times.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV_VAR = "SO101_CRASH_AT"

POINTS = (
    "frame",  # a frame was added to the episode in progress
    "save:staged",  # the next version of the dataset folder is staged, LeRobot has not written the episode yet
    "save:written",  # LeRobot wrote the episode into the staged folder, not yet committed
    "save:committed",  # the staged folder replaced the dataset, the old version is not yet removed
    "saved",  # the progress line reported the episode saved
    "finalize",  # the session is ending
    "derived:staged",  # a derived dataset (merge, import, convert...) is complete in its staging folder, not yet moved
    "derived:moved",  # one file of an export into an existing folder was moved in, the others not yet
    "derived:exchanged",  # delete-episodes in place: the new dataset took the original's place, not yet the backup's
)

_reached: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """SIGKILL this process if ``SO101_CRASH_AT`` names this point and this is its k-th visit."""
    target = os.environ.get(ENV_VAR)
    if not target:
        return
    point, _, count = target.rpartition(":")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == int(count):
        os.kill(os.getpid(), signal.SIGKILL)
