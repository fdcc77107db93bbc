"""Dataset units <-> simulator radians (kinematics/units.py)."""

from __future__ import annotations

import numpy as np
import pytest

from so101.kinematics.units import (
    GRIPPER_INDEX,
    JOINT_FEATURE_NAMES,
    JOINT_NAMES,
    JointLimits,
    dataset_to_radians,
    radians_to_dataset,
)

# The so101_new_calib ranges (rad), as in the official model and the workbench's own.
LIMITS = JointLimits(
    np.array([-1.9199, -1.7453, -1.69, -1.6581, -2.7438, -0.1745]),
    np.array([1.9199, 1.7453, 1.69, 1.6581, 2.8412, 1.7453]),
)


def test_names_follow_lerobot_order() -> None:
    assert JOINT_NAMES == ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
    assert JOINT_FEATURE_NAMES[0] == "shoulder_pan.pos" and JOINT_FEATURE_NAMES[-1] == "gripper.pos"
    assert GRIPPER_INDEX == 5


def test_degrees_map_directly_and_gripper_percent_spans_its_range() -> None:
    values = np.array([90.0, -45.0, 0.0, 30.0, -180.0, 0.0])
    radians = dataset_to_radians(values, LIMITS)
    np.testing.assert_allclose(radians[:5], np.deg2rad(values[:5]))
    assert radians[5] == pytest.approx(LIMITS.lower[5])
    assert dataset_to_radians(np.array([0, 0, 0, 0, 0, 100.0]), LIMITS)[5] == pytest.approx(LIMITS.upper[5])


@pytest.mark.parametrize("norm", ["degrees", "range_m100_100"])
def test_round_trip_over_batches(norm: str) -> None:
    rng = np.random.default_rng(0)
    radians = rng.uniform(LIMITS.lower, LIMITS.upper, size=(4, 50, 6))
    back = dataset_to_radians(radians_to_dataset(radians, LIMITS, norm), LIMITS, norm)
    np.testing.assert_allclose(back, radians, atol=1e-12)
    assert back.shape == (4, 50, 6)


def test_range_m100_100_maps_the_ends_and_middle_of_each_range() -> None:
    lows = dataset_to_radians(np.array([-100.0] * 5 + [0.0]), LIMITS, "range_m100_100")
    highs = dataset_to_radians(np.array([100.0] * 5 + [100.0]), LIMITS, "range_m100_100")
    mids = dataset_to_radians(np.zeros(6), LIMITS, "range_m100_100")
    np.testing.assert_allclose(lows, LIMITS.lower)
    np.testing.assert_allclose(highs, LIMITS.upper)
    np.testing.assert_allclose(mids[:5], (LIMITS.lower[:5] + LIMITS.upper[:5]) / 2)


def test_integer_input_and_bad_shapes() -> None:
    assert dataset_to_radians(np.array([0, 0, 0, 0, 0, 50]), LIMITS).dtype == np.float64
    with pytest.raises(ValueError, match="6 values"):
        dataset_to_radians(np.zeros(5), LIMITS)
    with pytest.raises(ValueError, match="normalisation"):
        radians_to_dataset(np.zeros(6), LIMITS, "percent")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        JointLimits(np.zeros(6), np.zeros(6))


def test_limits_from_model() -> None:
    mujoco = pytest.importorskip("mujoco")
    joints = "".join(
        f'<body><joint name="{name}" type="hinge" range="{lo} {hi}"/><geom size="0.01"/>'
        for name, lo, hi in zip(JOINT_NAMES, LIMITS.lower, LIMITS.upper, strict=True)
    )
    xml = f'<mujoco><compiler angle="radian"/><worldbody>{joints}{"</body>" * 6}</worldbody></mujoco>'
    model = mujoco.MjModel.from_xml_string(xml)
    limits = JointLimits.from_model(model)
    np.testing.assert_allclose(limits.lower, LIMITS.lower)
    np.testing.assert_allclose(limits.upper, LIMITS.upper)
    empty = mujoco.MjModel.from_xml_string("<mujoco><worldbody/></mujoco>")
    with pytest.raises(ValueError, match="shoulder_pan"):
        JointLimits.from_model(empty)
