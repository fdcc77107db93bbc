"""Trajectory mode of the IK: a whole episode of targets, warm-started frame by frame, the joint step bounded.

A jump in the target (a teleoperator's hand, a replanned move) or a switch of IK branch never becomes a jump of
the arm: the joint step is scaled down to the bound and the arm catches up over the following frames. The same
bound serves the end-effector controller (``so101.kinematics.ee_controller``), one control step at a time.
"""

from __future__ import annotations

import numpy as np

from so101.kinematics.ik import N_BODY, IKResult, IKSolver
from so101.kinematics.units import GRIPPER_INDEX


def solve_trajectory(
    solver: IKSolver,
    target_pos: np.ndarray,
    target_quat: np.ndarray,
    q_init: np.ndarray | None = None,
    gripper: np.ndarray | None = None,
    max_joint_step: float | None = None,
    extrapolate: bool = False,
) -> tuple[np.ndarray, list[IKResult]]:
    """Solve a sequence of targets with ``solver``, each warm-started from the previous frame's joints.

    No body joint changes by more than ``max_joint_step`` between frames: when a solution lies further
    (a jump in the target, a switch of IK branch) the whole joint step is scaled down, keeping its
    direction, and the arm catches up over the following frames. Those frames report
    ``status="step_limited"`` with the errors of the pose actually commanded.

    Args:
        target_pos: (T, 3) positions in the base frame (m).
        target_quat: (T, 4) orientations ``[w, x, y, z]`` in the base frame.
        q_init: (6,) radians of the arm before the first frame; the first frame is then step-bounded
            too. ``None`` solves the first frame cold, without a bound.
        gripper: optional (T,) gripper angles (rad) written into the output; otherwise the gripper of
            ``q_init`` (or of the cold start) passes through.
        max_joint_step: bound per frame (rad); defaults to ``solver.config.max_joint_step``.
        extrapolate: warm-start each frame from the previous frame's joints plus their last change (constant
            velocity) instead of the previous joints alone: on smooth recorded motion the start lands nearer the
            solution and the solve takes fewer iterations (measured: 0.78 instead of 1.26 per frame on scripted
            recordings). The step bound still counts from the previous frame.

    Returns:
        ``(qs, results)``: (T, 6) radians and one ``IKResult`` per frame.
    """
    target_pos = np.asarray(target_pos, dtype=np.float64)
    target_quat = np.asarray(target_quat, dtype=np.float64)
    if target_pos.ndim != 2 or target_pos.shape[1] != 3 or target_quat.shape != (len(target_pos), 4):
        raise ValueError(f"targets need shapes (T, 3) and (T, 4), got {target_pos.shape} and {target_quat.shape}")
    if gripper is not None and np.shape(gripper) != (len(target_pos),):
        raise ValueError(f"gripper needs shape ({len(target_pos)},), got {np.shape(gripper)}")
    bound = solver.config.max_joint_step if max_joint_step is None else max_joint_step
    if bound <= 0.0:
        raise ValueError(f"max_joint_step must be positive, got {bound}")

    qs = np.empty((len(target_pos), 6))
    results: list[IKResult] = []
    previous = None if q_init is None else np.asarray(q_init, dtype=np.float64)
    before: np.ndarray | None = None
    for t in range(len(target_pos)):
        start = previous
        if extrapolate and previous is not None and before is not None:
            start = previous.copy()
            start[:N_BODY] += previous[:N_BODY] - before[:N_BODY]
        q, result = solver.solve(target_pos[t], target_quat[t], start)
        if previous is not None and bound_joint_step(previous, q, bound):
            pos_err, rot_err = solver.errors_at(q)
            result = IKResult(False, result.iterations, pos_err, rot_err, "step_limited", result.restarts)
        if gripper is not None:
            q[GRIPPER_INDEX] = gripper[t]
        qs[t] = q
        results.append(result)
        before, previous = previous, q
    return qs, results


def bound_joint_step(previous: np.ndarray, q: np.ndarray, bound: float) -> bool:
    """Scale the body-joint step from ``previous`` to ``q`` (rad, 6 values each) down, in place in ``q``, so that
    no body joint moves by more than ``bound`` (rad); the direction of the step is kept. Returns True when it had
    to (the arm then reaches ``q``'s solution over the following steps)."""
    step = q[:N_BODY] - previous[:N_BODY]
    largest = float(np.max(np.abs(step)))
    if largest <= bound:
        return False
    q[:N_BODY] = previous[:N_BODY] + step * (bound / largest)
    return True
