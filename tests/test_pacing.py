"""The real-time pacer: absolute ticks, no burst to catch up after a stall."""

from __future__ import annotations

import time

import pytest

from teleop.pacing import Pacer


def test_ticks_do_not_drift_with_the_time_steps_take() -> None:
    pacer = Pacer(100.0)
    start = time.perf_counter()
    for _ in range(10):
        time.sleep(0.004)  # the step's own work, less than the 10 ms period
        pacer.wait()
    # 10 ticks of 10 ms from creation: the 4 ms steps are absorbed, not added.
    assert time.perf_counter() - start == pytest.approx(0.100, abs=0.03)
    assert pacer.late_ticks == 0


def test_a_stall_restarts_the_schedule_instead_of_bursting() -> None:
    pacer = Pacer(100.0)
    time.sleep(0.05)  # five periods late
    pacer.wait()
    assert pacer.late_ticks == 1
    before = time.perf_counter()
    pacer.wait()  # the next tick is a full period from now, not in the past
    assert time.perf_counter() - before >= 0.008


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(0.0)
