"""The safety layer of ``so101 deploy`` (``so101.inference.deploy_safety``), driven directly without hardware."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from so101.inference.deploy_safety import EmergencyStop, SafetyConfig, SafetyLayer, SafetyStop, Watchdog
from so101.sim.simulator import START_POSE


@pytest.fixture(scope="module")
def layer() -> SafetyLayer:
    return SafetyLayer(config=SafetyConfig(max_step_deg=4.0, ramp_step_deg=1.0, max_bad_steps=3))


def test_the_first_target_is_reached_by_a_bounded_ramp_never_a_jump(layer: SafetyLayer) -> None:
    layer.start(START_POSE)
    target = START_POSE + np.array([20.0, 10.0, 0.0, 0.0, 0.0, 30.0])
    sent = [layer.filter(target) for _ in range(40)]
    steps = np.diff(np.stack([START_POSE] + [s.target for s in sent]), axis=0)
    assert np.abs(steps[:, :5]).max() <= 1.0 + 1e-9  # ramp bound on the body joints
    assert np.abs(steps[:, 5]).max() <= 3.0 + 1e-9  # and on the gripper
    assert sent[0].events == ["ramp"] and np.allclose(sent[-1].target, target) and not layer.ramping
    assert sent[19].events == [] and sent[18].events == ["ramp"]  # 20 degrees at 1 per step


def test_after_the_ramp_a_chunk_boundary_jump_is_spread_by_the_step_bound(layer: SafetyLayer) -> None:
    layer.start(START_POSE)
    layer.filter(START_POSE)  # caught up: the ramp is over
    jump = START_POSE + np.array([0.0, 0.0, 18.0, 0.0, 0.0, 0.0])  # a 18-degree jump between two chunks
    first, second = layer.filter(jump), layer.filter(jump)
    assert first.events == ["step_bound"] and first.target[2] == pytest.approx(START_POSE[2] + 4.0)
    assert second.target[2] == pytest.approx(START_POSE[2] + 8.0)


def test_targets_are_clamped_to_the_joint_limits(layer: SafetyLayer) -> None:
    near_limit = START_POSE.copy()
    near_limit[0] = layer.upper[0] - 1.0
    layer.start(near_limit)
    layer.filter(near_limit)
    result = layer.filter(near_limit + np.array([50.0, 0, 0, 0, 0, 0]))
    assert "joint_limit" in result.events and result.target[0] == pytest.approx(layer.upper[0])


def test_a_target_below_the_table_or_beyond_reach_holds_the_arm(layer: SafetyLayer) -> None:
    pose = START_POSE.copy()  # the end-effector 12 cm above the table
    layer.start(pose)
    assert layer.in_workspace(pose)
    lower = pose.copy()
    while layer.in_workspace(lower):
        lower[1] += 1.0  # the shoulder lowers the arm into the table
    assert layer.end_effector(lower)[2] < layer.config.table_z_m
    layer.filter(pose)
    results = [layer.filter(lower) for _ in range(60)]  # the policy insists
    assert all(layer.in_workspace(result.target) for result in results)
    assert results[-1].events == ["workspace"] and layer.counts["workspace"] > 1
    assert np.allclose(results[-1].target, results[-2].target)  # held at the last safe target
    assert layer.end_effector(results[-1].target)[2] < 0.03  # close to the table, not short of it
    stretched = np.zeros(6)
    assert np.linalg.norm(layer.end_effector(stretched)) < SafetyConfig().max_reach_m  # straight up: in reach
    far = SafetyLayer(config=SafetyConfig(max_reach_m=0.3))
    assert not far.in_workspace(stretched)


def test_non_finite_actions_hold_the_arm_then_stop_the_run(layer: SafetyLayer) -> None:
    layer.start(START_POSE)
    bad = START_POSE.copy()
    bad[3] = np.nan
    held = layer.filter(bad)
    assert held.events == ["nan"] and np.allclose(held.target, START_POSE)
    layer.filter(START_POSE)  # a good action resets the run of bad ones
    layer.filter(np.full(6, np.inf))
    layer.filter(bad)
    with pytest.raises(SafetyStop, match="3 non-finite policy actions in a row"):
        layer.filter(bad)


def test_the_watchdog_stops_on_a_late_or_stale_observation() -> None:
    watchdog = Watchdog(0.05)
    assert watchdog.read(lambda: {"ok": 1}) == {"ok": 1}

    def slow() -> dict[str, int]:
        time.sleep(0.1)
        return {}

    with pytest.raises(SafetyStop, match="watchdog: the observation took"):
        watchdog.read(slow)

    def stale() -> dict[str, int]:
        raise TimeoutError("frame 900 ms old")

    with pytest.raises(SafetyStop, match="stale observation"):
        watchdog.read(stale)

    replies = iter([ConnectionError("no status packet"), {"ok": 2}])

    def flaky() -> dict[str, int]:
        reply = next(replies)
        if isinstance(reply, Exception):
            raise reply
        return reply

    assert watchdog.read(flaky) == {"ok": 2} and watchdog.retries == 1  # one lost reply is retried

    def silent() -> dict[str, int]:
        raise ConnectionError("no status packet")

    with pytest.raises(SafetyStop, match="the follower does not answer"):
        watchdog.read(silent)


def test_the_emergency_stop_acts_on_a_file_and_on_a_signal(tmp_path) -> None:
    before = signal.getsignal(signal.SIGUSR1)
    stop_file = tmp_path / "STOP"
    stop_file.touch()  # a file left from an earlier run does not stop this one
    with EmergencyStop(stop_file) as stop:
        stop.check()
        assert f"touch {stop_file}" in stop.how()
        stop_file.touch()
        with pytest.raises(SafetyStop, match="appeared"):
            stop.check()
    with EmergencyStop() as stop:
        os.kill(os.getpid(), signal.SIGUSR1)
        with pytest.raises(SafetyStop, match="SIGUSR1"):
            stop.check()
    assert signal.getsignal(signal.SIGUSR1) == before  # the process's own handler is back


def test_bad_settings_name_their_flag() -> None:
    with pytest.raises(ValueError, match=r"--safety\.max_step_deg"):
        SafetyConfig(max_step_deg=0)


def test_any_key_in_the_terminal_is_an_emergency_stop(monkeypatch) -> None:
    import sys
    import termios

    master, slave = os.openpty()
    terminal = os.fdopen(slave, "r")
    monkeypatch.setattr(sys, "stdin", terminal)
    before = termios.tcgetattr(slave)
    try:
        with EmergencyStop() as stop:
            assert "any key in this terminal" in stop.how()
            stop.check()  # nothing typed yet
            os.write(master, b" ")  # no Enter needed: the terminal is in cbreak mode
            time.sleep(0.05)
            with pytest.raises(SafetyStop, match="key b' ' pressed"):
                stop.check()
        assert termios.tcgetattr(slave) == before  # the terminal's mode is restored
    finally:
        terminal.close()
        os.close(master)
