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

_held: list[list[str]] = []
"""While a release runs: the list its stop signals are noted in (a stack; appending is atomic for a handler)."""


def _on_stop(number: int, _frame: FrameType | None) -> None:
    name = signal.Signals(number).name
    if _held:
        _held[-1].append(name)
        return
    raise KeyboardInterrupt(name)


@contextmanager
def _handlers() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}
    try:
        for number in STOP_SIGNALS:
            previous[number] = signal.signal(number, _on_stop)
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` inside this block (its text: the signal's name)."""
    with _handlers():
        yield


@contextmanager
def signals_held() -> Iterator[list[str]]:
    """Inside this block the stop signals are noted (their names, in the list yielded) instead of acted on.

    The list is pushed before anything else: one handler serves both blocks and reads it, so a signal arriving
    while this block is entered is noted, not raised in the middle of a release.
    """
    received: list[str] = []
    _held.append(received)
    try:
        with _handlers():
            yield received
    finally:
        _held.pop()
