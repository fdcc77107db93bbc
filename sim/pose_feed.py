"""The emulated follower's joint positions, shared with other processes through a small memory-mapped file.

The rig's simulated cameras (``so101.sim.lerobot_camera``) render the arm where the emulated servos are. The servos live
in the emulator's process (``so101 emulate follower``, or a test's thread); the cameras live in the process of
whoever reads the robot (``so101 deploy``, ``lerobot-record``). The emulator publishes its positions here and the
cameras read them: 8 float64 values, ``[sequence, time (s), six joint positions in LeRobot's SO-101 units]``.
A reader retries while the sequence number changes under it, so it never sees half a pose.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

_SLOTS = 8


class PoseFeedWriter:
    """Publishes poses from ``source`` every ``period_s`` on a background thread (``start``/``close``).

    Args:
        path: the feed file (created or overwritten).
        source: returns the (6,) pose now: degrees for the body joints, gripper 0..100.
        period_s: seconds between publications.
    """

    def __init__(self, path: Path, source: Callable[[], np.ndarray], period_s: float = 0.005) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._map = np.memmap(self.path, dtype=np.float64, mode="w+", shape=(_SLOTS,))
        self._source = source
        self._period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pose-feed", daemon=True)
        self.publish()

    def start(self) -> PoseFeedWriter:
        self._thread.start()
        return self

    def publish(self) -> None:
        """Write the source's pose now."""
        pose = np.asarray(self._source(), dtype=np.float64)
        self._map[0] += 1  # odd while writing
        self._map[1] = time.time()
        self._map[2:] = pose
        self._map[0] += 1

    def _run(self) -> None:
        while not self._stop.wait(self._period_s):
            try:
                self.publish()
            except OSError:  # the emulator was closed under the thread
                return

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)


def read_pose(path: Path) -> tuple[np.ndarray, float]:
    """The latest published pose (6,) and the wall-clock time (s, ``time.time``) it was published at.

    Raises:
        FileNotFoundError: no feed at ``path`` (the emulated follower is not running).
    """
    feed = np.memmap(Path(path), dtype=np.float64, mode="r", shape=(_SLOTS,))
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        before = feed[0]
        values = np.array(feed[1:])
        if before % 2 == 0 and feed[0] == before:
            return values[1:], float(values[0])
        time.sleep(0.0002)  # let the writer (maybe a thread of this process) finish
    raise RuntimeError(f"the pose feed {path} was being rewritten for a second without pause")
