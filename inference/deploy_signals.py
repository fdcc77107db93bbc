"""The signals that end a deployment: all of them take the path of Ctrl-C, and none can cut the release short.

``kill PID`` (SIGTERM, also what systemd and Docker send) and a closed terminal or SSH session (SIGHUP) would by
default end the process on the spot, the arm holding torque. While ``signals_interrupt`` is active they raise
``KeyboardInterrupt`` like Ctrl-C does, so the deployment unwinds through its release. While ``signals_held`` is
active (the release itself) SIGINT, SIGTERM and SIGHUP are only noted: a second Ctrl-C pressed in impatience must
not abandon the torque-off halfway.

Signal handlers can only be set from the main thread; elsewhere (a test driving the deployment from a thread)
both are no-ops.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Ctrl-C, ``kill``, a closed terminal."""


@contextmanager
def _handlers(handler: Any) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def _interrupt(number: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(number).name)


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` inside this block."""
    with _handlers(_interrupt):
        yield


@contextmanager
def signals_held() -> Iterator[list[str]]:
    """Inside this block the stop signals are noted (their names, in the list yielded) instead of acted on."""
    received: list[str] = []
    with _handlers(lambda number, _frame: received.append(signal.Signals(number).name)):
        yield received
