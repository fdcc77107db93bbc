"""The VR clutch: no jump on engaging, re-engaging or the first frame; scaled hand motion; the trigger's gripper
(teleop/vr/clutch.py)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from so101.kinematics.ee_controller import EEControllerConfig, EndEffectorController
from so101.kinematics.fk import ForwardKinematics
from so101.kinematics.pose import Pose, quat_from_rotvec
from so101.kinematics.units import dataset_to_radians
from so101.sim.paths import ROBOT_XML
from so101.sim.simulator import START_POSE
from so101.teleop.vr.clutch import Clutch, ClutchConfig

STEP_DEG = 6.0
HAND = Pose(np.array([0.2, -0.1, 0.3]), np.array([1.0, 0.0, 0.0, 0.0]))
"""Where the hand is when the tests engage (world frame; any pose works: only motion counts)."""


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(ROBOT_XML))


def make_clutch(model: mujoco.MjModel, **options: object) -> Clutch:
    controller = EndEffectorController(model, EEControllerConfig(max_joint_step_deg=STEP_DEG))
    return Clutch(controller, ClutchConfig(**options))  # type: ignore[arg-type]


def moved(hand: Pose, offset: list[float]) -> Pose:
    return Pose(hand.position + np.array(offset), hand.quat)


def tcp(model: mujoco.MjModel, clutch: Clutch, targets: np.ndarray) -> np.ndarray:
    return ForwardKinematics(model).pose(dataset_to_radians(targets, clutch.controller.limits)).position


def test_engaging_anywhere_moves_nothing(model: mujoco.MjModel) -> None:
    clutch = make_clutch(model)
    # The first frame: the hand far away, the clutch already held.
    far = Pose(np.array([5.0, 3.0, -2.0]), quat_from_rotvec(np.array([0.3, -1.0, 2.0])))
    step = clutch.step(START_POSE, far, held=True, trigger=0.0)
    assert step.engaged
    np.testing.assert_array_equal(step.targets, START_POSE)
    # Holding still while engaged stays exactly there.
    np.testing.assert_array_equal(clutch.step(START_POSE, far, held=True, trigger=1.0).targets[:5], START_POSE[:5])


def test_hand_motion_moves_the_gripper_scaled(model: mujoco.MjModel) -> None:
    clutch = make_clutch(model, motion_scale=0.5, follow_orientation=False)
    start = tcp(model, clutch, clutch.step(START_POSE, HAND, True, 1.0).targets)
    targets = START_POSE
    for _ in range(20):  # 4 cm forward and 2 cm up of hand: 2 cm and 1 cm of gripper, reached within the steps
        targets = clutch.step(targets, moved(HAND, [0.04, 0.0, 0.02]), True, 1.0).targets
    np.testing.assert_allclose(tcp(model, clutch, targets) - start, [0.02, 0.0, 0.01], atol=1e-3)


def test_reclutch_after_moving_the_hand_released_never_jumps(model: mujoco.MjModel) -> None:
    clutch = make_clutch(model)
    targets = clutch.step(START_POSE, HAND, True, 0.0).targets
    for _ in range(5):
        targets = clutch.step(targets, moved(HAND, [0.05, 0.05, 0.0]), True, 0.0).targets
    released = clutch.step(targets, moved(HAND, [0.3, -0.2, 0.1]), False, 0.0)  # hand moves far, released
    assert not released.engaged
    np.testing.assert_array_equal(released.targets, targets)
    again = clutch.step(targets, moved(HAND, [0.4, 0.3, -0.2]), True, 0.0)  # engaged again elsewhere
    np.testing.assert_array_equal(again.targets, targets)
    after = clutch.step(again.targets, moved(HAND, [0.45, 0.3, -0.2]), True, 0.0)
    assert np.abs(after.targets[:5] - targets[:5]).max() <= STEP_DEG + 1e-9


def test_random_clutch_sequences_stay_within_the_step_bound(model: mujoco.MjModel) -> None:
    rng = np.random.default_rng(3)
    clutch = make_clutch(model)
    targets = START_POSE.copy()
    hand = HAND
    worst = 0.0
    for _ in range(300):
        hand = Pose(hand.position + rng.normal(0.0, 0.03, 3), quat_from_rotvec(rng.normal(0.0, 0.3, 3)))
        step = clutch.step(targets, hand, held=bool(rng.random() < 0.7), trigger=float(rng.random()))
        worst = max(worst, float(np.abs(step.targets[:5] - targets[:5]).max()))
        targets = step.targets
    assert worst <= STEP_DEG + 1e-9


def test_the_trigger_closes_the_gripper_at_a_bounded_speed(model: mujoco.MjModel) -> None:
    clutch = make_clutch(model, gripper_speed=150.0)
    targets = clutch.step(START_POSE, HAND, True, 0.0).targets  # engaging: the gripper as it was (closed)
    assert targets[5] == START_POSE[5] == 0.0
    limit = 150.0 / 30.0
    openings = []
    for _ in range(30):  # trigger released: the gripper opens to 100, at most `limit` per step
        targets = clutch.step(targets, HAND, True, 0.0).targets
        openings.append(targets[5])
    assert np.diff([0.0, *openings]).max() <= limit + 1e-9
    assert openings[-1] == pytest.approx(100.0)
    for _ in range(30):
        targets = clutch.step(targets, HAND, True, 1.0).targets
    assert targets[5] == pytest.approx(0.0)
    held = clutch.step(targets, HAND, False, 0.0).targets  # released clutch: the trigger does nothing
    assert held[5] == pytest.approx(0.0)


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match=r"--vr\.motion_scale"):
        ClutchConfig(motion_scale=0.0)
    with pytest.raises(ValueError, match=r"--vr\.gripper_speed"):
        ClutchConfig(gripper_speed=-1.0)
