"""Scripted motions of the emulated arm: inside the sim's limits and the calibrated ranges, at any speed."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest

from so101.kinematics.units import radians_to_dataset
from so101.sim.scene import build_scene
from so101.teleop.feetech.emulated_arm import EXAMPLE_CALIBRATION
from so101.teleop.feetech.trajectories import MIDDLE, MOTIONS, MotionName, scripted_motion, sweep

TIMES = np.arange(0.0, 60.0, 1 / 30)


def test_every_named_motion_exists():
    assert set(get_args(MotionName)) == set(MOTIONS)


@pytest.mark.parametrize("name", list(MOTIONS))
def test_motions_stay_inside_the_sim_limits_and_the_calibrated_ranges(name):
    limits = build_scene().limits
    lower, upper = radians_to_dataset(limits.lower, limits), radians_to_dataset(limits.upper, limits)
    poses = np.stack([MOTIONS[name](t) for t in TIMES])
    assert poses.shape == (len(TIMES), 6)
    assert np.all(poses >= lower) and np.all(poses <= upper)
    # The emulated arm's calibrated ranges, in LeRobot's degrees about their middle (4095 ticks per turn).
    half_ranges = np.array([(high - low) / 2 * 360 / 4095 for _offset, low, high in EXAMPLE_CALIBRATION.values()])
    assert np.all(np.abs(poses[:, :5]) <= half_ranges[:5])
    assert np.all((poses[:, 5] >= 0) & (poses[:, 5] <= 100))


def test_wave_and_sweep_move_every_joint_and_still_holds_the_middle():
    for name in ("wave", "sweep"):
        poses = np.stack([MOTIONS[name](t) for t in TIMES])
        assert np.all(np.ptp(poses, axis=0) > 30), name
    np.testing.assert_array_equal(np.stack([MOTIONS["still"](t) for t in TIMES[:10]]), np.tile(MIDDLE, (10, 1)))


def test_sweep_moves_one_joint_at_a_time():
    for t in TIMES:
        assert np.count_nonzero(np.abs(sweep(t) - MIDDLE) > 1e-9) <= 1


def test_speed_scales_time():
    fast = scripted_motion("wave", speed=2.0)
    np.testing.assert_allclose(fast(1.5), MOTIONS["wave"](3.0))
    with pytest.raises(ValueError, match="positive"):
        scripted_motion("wave", speed=0.0)
