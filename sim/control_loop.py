"""The one control-loop clock: ticks at the control rate and, while it waits, lets a view draw.

Every loop of the workbench (recording, teleoperation, replay, evaluation, the viewer, VR and deployment) steps
the arm once per tick of a ``ControlClock``. Between ticks the clock hands the spare time to a ``View`` (a GLFW
window, a VR headset), which draws frames at its own rate: the arm never waits on frames, and frames never wait on
the arm.

Ticks are absolute (start + k * period), so the time a step takes does not add up into drift. A step that ends more
than a whole period late restarts the schedule from now instead of running a burst of steps to catch up (an arm
driven by a person should follow the hand, not replay missed time); the ticks skipped that way are counted, and
``late_ticks`` counts every tick reached after its time. ``summary()`` reports both.

Example::

    clock = ControlClock(30.0, view=viewer)
    while running:
        step()
        clock.wait()
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


class View(Protocol):
    """Something that shows the simulation between control ticks (a desktop window, a VR headset)."""

    frame_period_s: float
    """Seconds between the view's frames (1/60 for a window, the headset's display period for VR)."""

    def draw(self) -> bool | None:
        """Draw one frame of the current simulation state and process the view's input events. A view that polls
        (a VR runtime's frame pacer) returns False when no frame was due; anything else counts as a frame."""


@dataclass
class ClockStats:
    ticks: int = 0
    """Ticks waited for."""
    late_ticks: int = 0
    """Ticks reached after their time (the step took longer than what was left of the period)."""
    skipped_ticks: int = 0
    """Ticks dropped from the schedule because a step ended more than a period late."""
    worst_late_s: float = 0.0
    """Largest lateness of a tick (s)."""
    frames: int = 0
    """Frames the view drew (not the calls of a polling view that found no frame due)."""


class ControlClock:
    """Sleeps until the next control tick, letting ``view`` draw meanwhile.

    Args:
        rate_hz: control rate (ticks per second of wall-clock time).
        view: drawn between ticks, at most once per its ``frame_period_s``; None draws nothing.
        realtime: False runs as fast as the steps allow (scripted recording, headless evaluation): ``wait``
            returns at once, after one frame of ``view`` if there is one.
    """

    def __init__(self, rate_hz: float, view: View | None = None, realtime: bool = True) -> None:
        if rate_hz <= 0:
            raise ValueError(f"the control rate must be positive, got {rate_hz} Hz")
        self.period = 1.0 / rate_hz
        """Seconds per tick."""
        self.view = view
        self.realtime = realtime
        self.stats = ClockStats()
        self._next = time.perf_counter()
        self._next_frame = self._next

    @property
    def late_ticks(self) -> int:
        return self.stats.late_ticks

    def restart(self) -> None:
        """Start the schedule from now (after a pause: waiting for a start key, a headset regaining focus)."""
        self._next = time.perf_counter()

    def wait(self) -> None:
        """Return at the next tick; draw the view while waiting."""
        stats = self.stats
        stats.ticks += 1
        if not self.realtime:
            self.draw()
            return
        self._next += self.period
        # A tick is late when the step before it overran the period; oversleeping and the view's frames
        # are not the step's doing, so lateness is measured before waiting.
        lateness = time.perf_counter() - self._next
        if lateness > 0:
            stats.late_ticks += 1
            stats.worst_late_s = max(stats.worst_late_s, lateness)
            if lateness > self.period:
                stats.skipped_ticks += int(lateness // self.period)
                self._next = time.perf_counter()
            if self.view is not None and time.perf_counter() >= self._next_frame:
                self.draw()  # a loop that is always late still shows its frames
            return
        while True:
            now = time.perf_counter()
            remaining = self._next - now
            if remaining <= 0:
                return
            if self.view is not None and now >= self._next_frame:
                self.draw()
                continue
            time.sleep(min(remaining, self._next_frame - now) if self.view is not None else remaining)

    def draw(self) -> None:
        """Draw one frame of the view now (also used while a loop is paused between episodes)."""
        if self.view is None:
            return
        if self.view.draw() is not False:
            self.stats.frames += 1
        self._next_frame = max(self._next_frame + self.view.frame_period_s, time.perf_counter())

    def summary(self) -> str:
        """One line on how well the loop kept its rate, e.g. ``3 late ticks of 900 (worst 41 ms), 1 skipped``."""
        stats = self.stats
        line = f"{stats.late_ticks} late tick(s) of {stats.ticks}"
        if stats.late_ticks:
            line += f" (worst {1000 * stats.worst_late_s:.0f} ms late)"
        if stats.skipped_ticks:
            line += f", {stats.skipped_ticks} skipped"
        if self.view is not None:
            line += f", {stats.frames} view frames"
        return line
