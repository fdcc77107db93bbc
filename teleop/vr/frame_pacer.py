"""Waiting for the headset's next frame on a thread of its own, so that the control loop never blocks on it.

``xrWaitFrame`` blocks until the runtime wants the next frame, up to a whole display period. Called from the
control loop it would hold physics back; here a thread calls it and leaves the frame state ready for the loop,
which begins, renders and ends that frame when the ``ControlClock`` next hands it time (OpenXR lets
``xrBeginFrame``/``xrEndFrame`` run on another thread than ``xrWaitFrame``; the thread waits again only after the
frame was begun, as the specification requires). pyopenxr's ctypes calls release the GIL while they block.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from so101.teleop.vr.session import XrSession


class FramePacer:
    """The thread that waits for frames of ``session``; ``take`` hands them out."""

    def __init__(self, session: XrSession) -> None:
        self._session = session
        self._ready: Any = None
        self._condition = threading.Condition()
        self._may_wait = True
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="openxr-wait-frame", daemon=True)
        self._thread.start()

    def take(self, timeout_s: float = 0.0) -> Any | None:
        """The frame state waited for, or None if none is ready within ``timeout_s``. The caller must begin the
        frame (``XrSession.begin_frame``) and then call ``began``, whether the begin succeeded or not."""
        with self._condition:
            if self._ready is None and timeout_s > 0:
                self._condition.wait_for(lambda: self._ready is not None or self._stop, timeout_s)
            state, self._ready = self._ready, None
            return state

    def began(self) -> None:
        """The frame taken last was begun: the thread may wait for the next one."""
        with self._condition:
            self._may_wait = True
            self._condition.notify_all()

    def close(self) -> None:
        """Stop the thread (it returns within a display period from a pending wait)."""
        with self._condition:
            self._stop = True
            self._condition.notify_all()
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        session = self._session
        xr = session._xr
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._may_wait or self._stop)
                if self._stop:
                    return
            if not session.running or session.ended or session.session is None:
                time.sleep(0.005)
                continue
            try:
                state = xr.wait_frame(session.session)
            except xr.exception.XrException:  # not running any more, or lost: the control loop finds out
                time.sleep(0.005)
                continue
            with self._condition:
                self._ready, self._may_wait = state, False
                self._condition.notify_all()
