"""Real-time pacing of a control loop: one step per period of the wall clock."""

from __future__ import annotations

import time


class Pacer:
    """Sleeps until the next tick of a fixed-rate schedule.

    Ticks are absolute (creation time + k * period), so the time a step takes does not add up into drift. A step that
    ends more than a whole period late restarts the schedule from now instead of running a burst of steps to
    catch up: a teleoperated arm should follow the hand, not replay missed time.

    Example::

        pacer = Pacer(30.0)
        while running:
            step()
            pacer.wait()
    """

    def __init__(self, rate_hz: float) -> None:
        if rate_hz <= 0:
            raise ValueError(f"the rate must be positive, got {rate_hz} Hz")
        self.period = 1.0 / rate_hz
        """Seconds per tick."""
        self.late_ticks = 0
        """Ticks the loop reached after their time (the step took longer than what was left of the period)."""
        self._next = time.perf_counter()

    def wait(self) -> None:
        """Sleep until the next tick."""
        now = time.perf_counter()
        self._next += self.period
        delay = self._next - now
        if delay > 0:
            time.sleep(delay)
            return
        self.late_ticks += 1
        if delay < -self.period:
            self._next = now
