"""Damped-least-squares IK: convergence, limits, unreachable targets, warm tracking (kinematics/ik.py), and its
trajectory mode's step bound (kinematics/ik_trajectory.py)."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest
from arm_scenes import model_params, scene_with_arm

from so101.kinematics.fk import ForwardKinematics
from so101.kinematics.ik import FOLDED_POSE, IKConfig, IKResult, IKSolver
from so101.kinematics.ik_trajectory import solve_trajectory
from so101.kinematics.pose import quat_angle, quat_from_rotvec, quat_multiply

POS_TOL = 1e-4  # m: the 0.1 mm
ROT_TOL = np.deg2rad(0.1)  # the 0.1 degree


@pytest.fixture(params=model_params(), scope="module")
def model_path(request: pytest.FixtureRequest) -> Path:
    return request.param


@pytest.fixture(scope="module")
def model(model_path: Path) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(model_path))


@pytest.fixture(scope="module")
def solver(model: mujoco.MjModel) -> IKSolver:
    return IKSolver(model)


@pytest.fixture(scope="module")
def fk(model: mujoco.MjModel) -> ForwardKinematics:
    return ForwardKinematics(model)


def random_joints(solver: IKSolver, count: int, seed: int) -> np.ndarray:
    qs = np.zeros((count, 6))
    qs[:, :5] = np.random.default_rng(seed).uniform(solver.lower, solver.upper, size=(count, 5))
    return qs


def assert_reaches(fk: ForwardKinematics, q: np.ndarray, pos: np.ndarray, quat: np.ndarray) -> None:
    reached_pos, reached_quat = fk.pose(q)
    assert np.linalg.norm(reached_pos - pos) <= POS_TOL
    assert quat_angle(reached_quat, quat) <= ROT_TOL


def test_round_trip_cold_from_the_folded_pose(solver: IKSolver, fk: ForwardKinematics) -> None:
    for q_true in random_joints(solver, 200, seed=1):
        pos, quat = fk.pose(q_true)
        q, result = solver.solve(pos, quat)
        assert isinstance(result, IKResult)
        assert result.converged and result.status == "converged", result
        assert result.position_error <= solver.config.position_tolerance
        assert result.orientation_error <= solver.config.orientation_tolerance
        assert_reaches(fk, q, pos, quat)


def test_warm_start_converges_in_few_iterations(solver: IKSolver, fk: ForwardKinematics) -> None:
    for q_true in random_joints(solver, 50, seed=2):
        q_true[:5] = np.clip(q_true[:5], solver.lower + 0.05, solver.upper - 0.05)
        pos, quat = fk.pose(q_true)
        q_init = q_true + np.r_[np.full(5, 0.02), 0.0]
        q, result = solver.solve(pos, quat, q_init)
        assert result.converged and result.iterations <= 4 and result.restarts == 0, result
        np.testing.assert_allclose(q, q_true, atol=1e-3)  # the nearby solution, not another branch


def test_the_gripper_passes_through(solver: IKSolver, fk: ForwardKinematics) -> None:
    pos, quat = fk.pose(np.array([0.2, -0.4, 0.6, 0.3, 0.1, 0.0]))
    q, _ = solver.solve(pos, quat, np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.234]))
    assert q[5] == 1.234
    q, _ = solver.solve(pos, quat)
    assert q[5] == solver.cold_start[5] == FOLDED_POSE[5]


def test_limits_hold_at_every_iterate(solver: IKSolver, monkeypatch: pytest.MonkeyPatch) -> None:
    visited: list[np.ndarray] = []
    evaluate = solver._evaluate

    def recording(q_body: np.ndarray) -> None:
        visited.append(np.array(q_body))
        evaluate(q_body)

    monkeypatch.setattr(solver, "_evaluate", recording)
    targets = [
        (np.array([0.0, 0.0, 0.6]), np.array([1.0, 0.0, 0.0, 0.0])),  # above the arm, out of reach
        (np.array([-0.3, 0.05, 0.05]), np.array([0.0, 0.0, 1.0, 0.0])),  # behind the base
        (np.array([0.2, -0.1, 0.1]), np.array([0.5, 0.5, 0.5, 0.5])),
    ]
    for pos, quat in targets:
        q, _ = solver.solve(pos, quat)
        assert np.all(q[:5] >= solver.lower) and np.all(q[:5] <= solver.upper)
    visited_array = np.array(visited)
    assert len(visited_array) > 20
    assert np.all(visited_array >= solver.lower) and np.all(visited_array <= solver.upper)


def test_unreachable_position_gives_the_closest_pose(solver: IKSolver, fk: ForwardKinematics) -> None:
    far = np.array([1.0, 0.0, 0.2])  # about 0.6 m beyond the arm's reach
    q, result = solver.solve(far, np.array([1.0, 0.0, 0.0, 0.0]))
    assert not result.converged and result.status == "unreachable", result
    assert np.all(np.isfinite(q)) and np.isfinite(result.position_error) and np.isfinite(result.orientation_error)
    reached, _ = fk.pose(q)
    assert result.position_error == pytest.approx(np.linalg.norm(reached - far), abs=1e-9)
    # Stretched towards the target: the gripper is at the far end of the workspace, ~0.45 m out.
    assert reached[0] > 0.4
    assert result.position_error < 0.65


def test_every_target_out_of_reach_reports_unreachable(solver: IKSolver, fk: ForwardKinematics) -> None:
    # The reach sphere holds every pose the arm takes, and is tight: the arm stretches to within 2 cm of it.
    distances = np.linalg.norm(fk.batch(random_joints(solver, 2000, seed=5)).position - solver.reach_centre, axis=1)
    assert distances.max() <= solver.reach and distances.max() > solver.reach - 0.02
    rng = np.random.default_rng(6)
    branch_bound = IKSolver(solver.model, IKConfig(restart_warm=False))
    starts = random_joints(solver, 20, seed=7)
    for start in starts:
        direction = rng.normal(size=3)
        target = solver.reach_centre + (solver.reach + rng.uniform(0.002, 0.3)) * direction / np.linalg.norm(direction)
        quat = rng.normal(size=4)
        for q_init in (None, start):
            _, result = solver.solve(target, quat, q_init)
            assert result.status == "unreachable", result
        _, result = branch_bound.solve(target, quat, start)
        assert result.status == "unreachable", result
    # Within the sphere but blocked by the joint limits (below the base): the error stops decreasing.
    _, result = solver.solve(np.array([0.0, 0.0, -0.3]), np.array([1.0, 0.0, 0.0, 0.0]))
    assert result.status == "unreachable" and result.position_error > 0.05, result


def test_unreachable_orientation_minimises_the_weighted_error(solver: IKSolver, fk: ForwardKinematics) -> None:
    # A reachable position with the orientation turned 30 degrees about the gripper frame's z axis, which
    # is neither the roll axis nor parallel to the flex axes: no joint of a 5-DOF arm supplies that turn
    # without moving the gripper away.
    q_true = np.array([0.0, -0.3, 0.5, 0.4, 0.3, 0.0])
    pos, quat = fk.pose(q_true)
    turn = quat_from_rotvec(np.array([0.0, 0.0, np.pi / 6]))
    target_quat = quat_multiply(quat, turn)
    _, result = solver.solve(pos, target_quat, q_true)
    assert not result.converged and result.status == "unreachable", result
    assert result.orientation_error > ROT_TOL
    # The trade-off follows the weights: position error stays a few cm, orientation improves on doing nothing.
    assert result.orientation_error < quat_angle(quat, target_quat)
    assert result.position_error < 0.05
    # Position only (orientation weight 0): the same target position is reached exactly.
    position_only = IKSolver(solver.model, IKConfig(orientation_weight=0.0))
    _, result = position_only.solve(pos, target_quat, q_true)
    assert result.converged and result.position_error <= 1e-5


def test_invalid_targets_raise(solver: IKSolver) -> None:
    with pytest.raises(ValueError):
        solver.solve(np.array([np.nan, 0.0, 0.1]), np.array([1.0, 0, 0, 0]))
    with pytest.raises(ValueError):
        solver.solve(np.array([0.2, 0.0, 0.1]), np.zeros(4))
    with pytest.raises(ValueError):
        solver.solve(np.array([0.2, 0.0, 0.1]), np.array([1.0, 0, 0, 0]), np.zeros(5))


def smooth_joint_trajectory(solver: IKSolver, frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mid = (solver.lower + solver.upper) / 2
    half = 0.35 * (solver.upper - solver.lower)
    t = np.linspace(0.0, 1.0, frames)[:, None]
    qs = np.zeros((frames, 6))
    qs[:, :5] = mid + half * np.sin(2 * np.pi * (rng.uniform(0.3, 1.0, 5) * t + rng.uniform(0, 1, 5)))
    return qs


def test_trajectory_tracks_smoothly(solver: IKSolver, fk: ForwardKinematics) -> None:
    q_true = smooth_joint_trajectory(solver, 150, seed=3)
    positions, quats = fk.batch(q_true)
    gripper = np.linspace(0.0, 1.0, 150)
    qs, results = solve_trajectory(solver, positions, quats, q_true[0], gripper=gripper)
    assert qs.shape == (150, 6) and len(results) == 150
    assert all(result.converged for result in results)
    np.testing.assert_allclose(qs[:, 5], gripper)
    assert np.max(np.abs(np.diff(qs[:, :5], axis=0))) <= solver.config.max_joint_step
    for i in (0, 70, 149):
        assert_reaches(fk, qs[i], positions[i], quats[i])


def test_a_jump_in_the_target_never_jumps_the_arm(solver: IKSolver, fk: ForwardKinematics) -> None:
    start, goal = np.array([0.0, -0.5, 0.5, 0.5, 0.0, 0.0]), np.array([1.2, 0.4, -0.6, -0.8, 1.5, 0.0])
    pos_a, quat_a = fk.pose(start)
    pos_b, quat_b = fk.pose(goal)
    positions = np.array([pos_a] * 5 + [pos_b] * 45)
    quats = np.array([quat_a] * 5 + [quat_b] * 45)
    bound = 0.05
    qs, results = solve_trajectory(solver, positions, quats, start, max_joint_step=bound)
    steps = np.abs(np.diff(np.vstack([start, qs])[:, :5], axis=0))
    assert np.max(steps) <= bound + 1e-12
    assert results[5].status == "step_limited" and not results[5].converged
    assert results[5].position_error > 0.01  # the errors are those of the bounded pose
    assert results[-1].converged  # the arm caught up
    assert_reaches(fk, qs[-1], pos_b, quat_b)


def test_scene_model_with_free_body_and_moved_base(model_path: Path, fk: ForwardKinematics) -> None:
    scene_model = scene_with_arm(model_path, [0.1, -0.2, 0.75], 0.8)
    sim_data = mujoco.MjData(scene_model)
    sim_data.qpos[:] = np.arange(scene_model.nq) * 0.01
    before = sim_data.qpos.copy()

    scene_solver = IKSolver(scene_model)
    for q_true in random_joints(scene_solver, 20, seed=4):
        pos, quat = fk.pose(q_true)  # base-frame pose from the arm-only model
        q, result = scene_solver.solve(pos, quat)
        assert result.converged, result
        assert_reaches(fk, q, pos, quat)
    np.testing.assert_array_equal(sim_data.qpos, before)  # the solver keeps to its own MjData


def test_extrapolated_warm_starts_solve_smooth_motion_in_fewer_iterations(
    solver: IKSolver, fk: ForwardKinematics
) -> None:
    q_true = smooth_joint_trajectory(solver, 150, seed=4)
    positions, quats = fk.batch(q_true)
    plain, plain_results = solve_trajectory(solver, positions, quats, q_true[0])
    guessed, guessed_results = solve_trajectory(solver, positions, quats, q_true[0], extrapolate=True)
    assert all(result.converged for result in guessed_results)
    # The same branch; near-singular frames meet the tolerance at joints a few mrad apart.
    np.testing.assert_allclose(guessed[:, :5], plain[:, :5], atol=1e-2)
    np.testing.assert_allclose(guessed[:, 5], q_true[0, 5])  # the gripper is not extrapolated
    assert sum(r.iterations for r in guessed_results) < sum(r.iterations for r in plain_results)
