"""The one control-loop clock: absolute ticks, no burst after a stall, a view drawn between ticks.

Most tests run the clock on a fake time source, so that its schedule is checked exactly whatever the load of the
machine; one checks the real clock against the wall clock.
"""

from __future__ import annotations

import itertools
import time

import pytest

import so101.sim.control_loop
from so101.sim.control_loop import ControlClock


class FakeTime:
    """Stands in for the ``time`` module inside ``so101.sim.control_loop``: sleeping advances a virtual clock (s)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds

    def work(self, seconds: float) -> None:
        """A step of the loop that takes ``seconds``."""
        self.now += seconds


class FakeView:
    """A view that notes when it drew; drawing one frame takes ``draw_s`` of the fake clock."""

    def __init__(self, clock: FakeTime, frame_period_s: float, draw_s: float = 0.0) -> None:
        self.clock = clock
        self.frame_period_s = frame_period_s
        self.draw_s = draw_s
        self.draw_times: list[float] = []

    def draw(self) -> None:
        self.draw_times.append(self.clock.now)
        self.clock.work(self.draw_s)


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(so101.sim.control_loop, "time", fake)
    return fake


def test_ticks_do_not_drift_with_the_time_steps_take(fake_time: FakeTime) -> None:
    clock = ControlClock(100.0)
    start = fake_time.now
    ticks = []
    for _ in range(10):
        fake_time.work(0.004)  # the step's own work, less than the 10 ms period
        clock.wait()
        ticks.append(fake_time.now - start)
    # 10 ticks of 10 ms from creation: the 4 ms steps are absorbed, not added.
    assert ticks == pytest.approx([0.01 * k for k in range(1, 11)])
    assert clock.late_ticks == 0 and clock.stats.ticks == 10


def test_a_stall_restarts_the_schedule_instead_of_bursting(fake_time: FakeTime) -> None:
    clock = ControlClock(100.0)
    fake_time.work(0.055)  # the first tick was due at 10 ms: 45 ms late, and the ticks at 20 .. 50 ms are gone
    clock.wait()
    assert clock.late_ticks == 1 and clock.stats.skipped_ticks == 4
    before = fake_time.now
    clock.wait()  # the next tick is a full period from now, not in the past
    assert fake_time.now - before == pytest.approx(0.01)
    assert clock.late_ticks == 1


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ControlClock(0.0)


def test_the_view_draws_between_ticks_at_its_frame_period_while_ticks_keep_the_rate(fake_time: FakeTime) -> None:
    view = FakeView(fake_time, frame_period_s=0.01, draw_s=0.002)
    clock = ControlClock(20.0, view=view)  # 50 ms ticks, 10 ms frames
    start = fake_time.now
    ticks = []
    for _ in range(6):
        fake_time.work(0.001)
        clock.wait()
        ticks.append(fake_time.now - start)
    # Ticks stay on the control schedule: the frames drawn while waiting neither delay nor stretch them.
    assert ticks == pytest.approx([0.05 * k for k in range(1, 7)])
    assert clock.late_ticks == 0
    # Five frames per tick, one per frame period: the frame due during a step is drawn once the step is done.
    draws = [t - start for t in view.draw_times]
    assert len(draws) == 30
    gaps = [b - a for a, b in itertools.pairwise(draws)]
    assert all(0.009 - 1e-9 <= gap <= 0.011 + 1e-9 for gap in gaps)
    assert clock.stats.frames == 30 and clock.summary().endswith(", 30 view frames")


def test_a_polling_view_counts_only_the_frames_it_drew(fake_time: FakeTime) -> None:
    class PollingView(FakeView):
        """A view asked four times per display frame, as the VR view polls its runtime's frame pacer."""

        def draw(self) -> bool:
            super().draw()
            return len(self.draw_times) % 4 == 0

    view = PollingView(fake_time, frame_period_s=0.01)
    clock = ControlClock(20.0, view=view)
    for _ in range(4):
        clock.wait()
    assert len(view.draw_times) == 20 and clock.stats.frames == 5
    assert clock.summary().endswith(", 5 view frames")


def test_a_slow_view_draws_less_often_but_never_delays_a_tick_by_a_period(fake_time: FakeTime) -> None:
    view = FakeView(fake_time, frame_period_s=0.01, draw_s=0.015)  # a frame takes longer than its period
    clock = ControlClock(20.0, view=view)
    for _ in range(4):
        clock.wait()
    assert clock.stats.skipped_ticks == 0
    assert clock.stats.worst_late_s < 0.015 + 1e-9
    assert 0 < clock.stats.frames <= 4 * 50 / 15 + 1


def test_late_and_skipped_ticks_are_counted_and_reported(fake_time: FakeTime) -> None:
    clock = ControlClock(100.0)
    clock.wait()
    fake_time.work(0.035)  # a step that overran its 10 ms by 25 ms: two whole periods are skipped
    clock.wait()
    clock.wait()
    stats = clock.stats
    assert (stats.ticks, stats.late_ticks, stats.skipped_ticks) == (3, 1, 2)
    assert stats.worst_late_s == pytest.approx(0.025)
    assert clock.summary() == "1 late tick(s) of 3 (worst 25 ms late), 2 skipped"


def test_a_clock_on_time_reports_no_late_ticks(fake_time: FakeTime) -> None:
    clock = ControlClock(200.0)
    for _ in range(5):
        fake_time.work(0.001)
        clock.wait()
    assert clock.summary() == "0 late tick(s) of 5"


def test_not_realtime_never_sleeps_and_draws_one_frame_per_tick(fake_time: FakeTime) -> None:
    view = FakeView(fake_time, frame_period_s=1.0)
    clock = ControlClock(1.0, view=view, realtime=False)  # one tick a second, were it real time
    for _ in range(50):
        fake_time.work(0.001)
        clock.wait()
    assert fake_time.sleeps == []
    assert clock.stats.ticks == 50 and clock.late_ticks == 0
    assert len(view.draw_times) == 50


def test_the_real_clock_keeps_the_rate_of_the_wall_clock() -> None:
    clock = ControlClock(100.0)
    start = time.perf_counter()
    for _ in range(10):
        clock.wait()
    elapsed = time.perf_counter() - start
    # Never ahead of the schedule; the upper bound leaves room for a loaded machine.
    assert 0.099 <= elapsed < 0.5
