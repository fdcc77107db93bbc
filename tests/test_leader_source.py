"""LeaderSource: LeRobot's SO-101 leader over the Feetech bus emulator, giving dataset-unit targets that drive
So101Sim (which converts them to radians and clamps them to the joint limits, once)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from so101.kinematics.units import dataset_to_radians, radians_to_dataset
from so101.sim.simulator import So101Sim
from so101.teleop.feetech import emulated_arm
from so101.teleop.feetech.calibration import CalibrationError
from so101.teleop.feetech.emulator import FeetechBusEmulator
from so101.teleop.leader import LeaderConfig, LeaderDisconnected
from so101.teleop.leader_source import LeaderSource

POSE = np.array([10.0, -20.0, 30.0, -40.0, 50.0, 25.0])


@pytest.fixture(scope="module")
def sim():
    return So101Sim()


@pytest.fixture
def emulator():
    with FeetechBusEmulator() as emu:
        yield emu


@pytest.fixture
def config(emulator, tmp_path):
    emulated_arm.prepare(emulator, tmp_path, "test_leader")
    return LeaderConfig(port=emulator.port, id="test_leader", calibration_dir=tmp_path)


@pytest.fixture
def source(config):
    source = LeaderSource(config)
    yield source
    source.close()


def test_targets_follow_the_leader_and_drive_the_sim(source, emulator, sim):
    sim.reset(0)
    emulator.play(lambda t: POSE)
    target = source.next_action(sim)
    np.testing.assert_allclose(target, POSE, atol=0.1)  # one tick is 0.09 deg
    source.start_episode(sim)
    for _ in range(30):
        sim.step(source.next_action(sim))
    np.testing.assert_allclose(sim.joint_positions(), POSE, atol=0.5)
    assert source.stats.reads == 31


def test_older_normalisation_is_mapped_to_degrees(emulator, config, sim):
    config.norm_mode = "range_m100_100"
    pose = np.array([-50.0, 0.0, 50.0, 90.0, -90.0, 60.0])
    emulator.play(lambda t: pose, units=("range_m100_100",) * 5 + ("range_0_100",))
    source = LeaderSource(config)
    try:
        target = source.next_action(sim)
    finally:
        source.close()
    limits = sim.scene.limits
    expected = radians_to_dataset(dataset_to_radians(pose, limits, "range_m100_100"), limits)
    np.testing.assert_allclose(target, expected, atol=0.2)
    assert target[2] > 0 > target[0]


def test_overrides_flip_and_shift_the_targets(emulator, config, sim, tmp_path):
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"shoulder_pan": {"sign": -1}, "wrist_roll": {"offset": -20.0}}))
    config.overrides_path = overrides
    emulator.play(lambda t: POSE)
    source = LeaderSource(config)
    try:
        target = source.next_action(sim)
    finally:
        source.close()
    np.testing.assert_allclose(target, POSE * [-1, 1, 1, 1, 1, 1] + [0, 0, 0, 0, -20, 0], atol=0.1)


def test_far_reading_is_clamped_by_the_sim_and_reported_once(source, emulator, sim, caplog):
    far = POSE.copy()
    far[0] = 170.0
    emulator.play(lambda t: far)
    limits = sim.scene.limits
    upper = radians_to_dataset(limits.upper, limits)
    sim.reset(0)
    with caplog.at_level(logging.WARNING, logger="so101.teleop.leader_source"):
        targets = [source.next_action(sim) for _ in range(3)]
        sim.step(targets[-1])
    # The source passes the reading on in dataset units; the sim clamps it to the joint limit when it steps.
    assert all(target[0] == pytest.approx(170.0, abs=0.1) for target in targets)
    assert sim.commanded_targets()[0] == pytest.approx(upper[0])
    assert sim.data.ctrl[sim.scene.actuator_ids][0] == pytest.approx(limits.upper[0])
    np.testing.assert_allclose(targets[-1][1:], POSE[1:], atol=0.1)
    warnings = [r.getMessage() for r in caplog.records if "shoulder_pan" in r.getMessage()]
    assert len(warnings) == 1 and "so101 calibrate-leader" in warnings[0]
    assert "clamped to the joint limits: shoulder_pan 3" in source.report()


def test_reading_just_beyond_a_limit_is_counted_but_not_reported(source, emulator, sim, caplog):
    limits = sim.scene.limits
    near = POSE.copy()
    near[0] = radians_to_dataset(limits.upper, limits)[0] + 2.0  # within FAR_OUT_OF_RANGE (5 deg)
    emulator.play(lambda t: near)
    with caplog.at_level(logging.WARNING, logger="so101.teleop.leader_source"):
        source.next_action(sim)
    assert not [r for r in caplog.records if "shoulder_pan" in r.getMessage()]
    assert "clamped to the joint limits: shoulder_pan 1" in source.report()


def test_corrupted_replies_are_retried_counted_and_reported(source, emulator, sim):
    emulator.play(lambda t: POSE)
    emulator.corrupt_next_replies(7)  # one whole sync read, then the first reply of the next
    np.testing.assert_allclose(source.next_action(sim), POSE, atol=0.1)
    assert source.report().startswith("leader arm: 1 reads, 2 retried, 0 stale")


def test_unplugged_leader_raises_leader_disconnected(source, emulator, sim):
    source.next_action(sim)
    emulator.unplug()
    with pytest.raises(LeaderDisconnected, match="unplugged"):
        source.next_action(sim)


def test_missing_calibration_fails_before_any_step(emulator, tmp_path):
    config = LeaderConfig(port=emulator.port, id="uncalibrated", calibration_dir=tmp_path)
    with pytest.raises(CalibrationError, match="so101 calibrate-leader"):
        LeaderSource(config)
