"""Joint -> EE conversion maths and the verification report (kinematics/ee_convert.py)."""

from __future__ import annotations

import mujoco
import numpy as np

from so101.kinematics.ee_convert import MAX_LISTED_FAILURES, EEVerifier, EpisodeErrors, JointsToEE, VerificationReport
from so101.kinematics.ee_features import EELayout
from so101.sim.paths import ROBOT_XML


def smooth_joints(frames: int = 120) -> np.ndarray:
    t = np.linspace(0.0, 4.0, frames)[:, None]
    return np.array([0.0, -20.0, 30.0, 60.0, 0.0, 40.0]) + np.array([25, 15, 15, 15, 60, 30]) * np.sin(
        t * np.array([0.7, 0.9, 1.1, 1.3, 0.5, 1.0])
    )


def test_converted_features_verify_back_to_their_joints_and_units_agree() -> None:
    model = mujoco.MjModel.from_xml_path(str(ROBOT_XML))
    layout = EELayout("quat")
    joints = smooth_joints()
    features = JointsToEE(model, layout).convert(joints).astype(np.float32)
    errors = EEVerifier(model, layout).verify(features, joints, joints[0])
    assert not errors.failed.any()
    assert errors.position.max() < 1e-5 and errors.joints.max() < 0.05
    # The same poses from the -100..100 convention.
    from so101.kinematics.units import JointLimits, dataset_to_radians, radians_to_dataset

    limits = JointLimits.from_model(model)
    ranged = radians_to_dataset(dataset_to_radians(joints, limits), limits, "range_m100_100")
    again = JointsToEE(model, layout, "range_m100_100").convert(ranged)
    np.testing.assert_allclose(again, features, atol=1e-5)


def test_report_percentiles_failures_and_their_list() -> None:
    report = VerificationReport()
    values = np.linspace(1e-6, 1e-4, 1000)
    failed = np.zeros(1000, dtype=bool)
    failed[[3, 500]] = True
    report.add(7, EpisodeErrors(values, values, np.degrees(values), failed))
    data = report.to_json()
    assert data["frames"] == 1000 and data["ik_failures"] == 2
    assert data["failed_frames"] == [{"episode_index": 7, "frame_index": 3}, {"episode_index": 7, "frame_index": 500}]
    # Histogram percentiles: never below the true value, within the 1 % bin width above it.
    true_p50 = np.percentile(values, 50) * 1e3
    assert true_p50 <= data["position_error_mm"]["p50"] <= 1.03 * true_p50
    assert data["position_error_mm"]["max"] == 1e-4 * 1e3
    assert "ep 7 frame 3" in report.lines()[-1]
    many = np.ones(MAX_LISTED_FAILURES + 5, dtype=bool)
    zeros = np.zeros(len(many))
    report.add(8, EpisodeErrors(zeros, zeros, zeros, many))
    assert len(report.to_json()["failed_frames"]) == MAX_LISTED_FAILURES
    assert report.to_json()["ik_failures"] == MAX_LISTED_FAILURES + 7
