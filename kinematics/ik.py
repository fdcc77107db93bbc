"""Inverse kinematics of the SO-101 by damped least squares on MuJoCo's site Jacobian.

The solver moves the five body joints (``shoulder_pan`` .. ``wrist_roll``) so that the ``gripperframe``
site reaches a target pose given in the frame of the arm's ``base`` body (position in metres, orientation as
``[w, x, y, z]``). The gripper joint is not used and passes through unchanged. Joint vectors in and out are
(6,) radians in LeRobot order; convert dataset units with ``so101.kinematics.units``.

Method: Levenberg-Marquardt on the weighted 6-D pose error. The damping grows with the remaining error
(Sugihara's rule), so steps stay short far from the target, near singularities and for unreachable targets,
and vanish close to a solution where the iteration converges quadratically. Joint limits hold at every
iterate: a joint whose step would leave its range is held at the limit and the step is re-solved for the
others. A 5-DOF arm cannot reach every orientation: the solver then stops at the minimum of the weighted
error and reports ``status="unreachable"``; so does a target out of reach (see ``IKResult``). Restart seeds come
from ``so101.kinematics.ik_seeds``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import mujoco
import numpy as np

from so101.kinematics.fk import BASE_BODY_NAME, SITE_NAME, ArmIndex
from so101.kinematics.ik_seeds import SEED_SPREAD, RestartSeeds
from so101.kinematics.pose import Pose
from so101.kinematics.units import GRIPPER_INDEX, JointLimits

FOLDED_POSE: tuple[float, ...] = (0.0, -1.658, 1.658, 1.222, 0.0, 0.0)
"""The folded pose the SO-101 rests in (rad, LeRobot order: 0, -95, 95, 70, 0, 0 degrees); cold solves start here.
Not the simulator's episode start pose, which is in dataset units and less folded."""

N_BODY = GRIPPER_INDEX
"""Number of joints the solver moves: the five body joints that precede the gripper."""

IKStatus = Literal["converged", "unreachable", "max_iterations", "step_limited"]


@dataclass
class IKConfig:
    """Settings of ``IKSolver``. The solver minimises ``(position_weight * metres)^2 +
    (orientation_weight * radians)^2``, so the default counts 1 rad of orientation error like 0.1 m."""

    position_weight: float = 1.0
    """Weight of the position error (dimensionless)."""
    orientation_weight: float = 0.1
    """Weight of the orientation error (m/rad); 0 solves for position only."""
    position_tolerance: float = 1e-5
    """Convergence threshold on the position error (m)."""
    orientation_tolerance: float = 1e-4
    """Convergence threshold on the orientation error (rad); ignored when ``orientation_weight`` is 0."""
    max_iterations: int = 60
    """Iteration budget of one descent (per seed)."""
    damping: float = 1e-6
    """Damping floor (m^2), added to the error-proportional damping; keeps steps finite at singularities."""
    restarts: int = 8
    """Extra descents tried when the first one does not converge (other IK branches, tabulated seeds)."""
    restart_warm: bool = True
    """Restart warm solves too. A tracked target can leave the IK branch it was followed in (the arm passed
    near a singularity, then a limit blocks the branch); restarting finds it in another branch, and the
    trajectory mode's step bound makes the switch gradual. False keeps warm solves in their branch."""
    seed_table_size: int = 4096
    """Random joint vectors (within limits) whose poses are tabulated at construction; restarts start from
    those whose poses lie nearest the target, which puts them in the right IK branch almost always."""
    seed: int = 0
    """Seed of the tabulated joint vectors (fixed at construction, so solves are repeatable)."""
    max_joint_step: float = 0.1
    """Trajectory mode (``so101.kinematics.ik_trajectory``): the largest change of any body joint between consecutive
    frames (rad)."""
    cold_start: tuple[float, ...] = FOLDED_POSE
    """Start of cold solves (rad, 6 values; the gripper value is what a cold solve passes through)."""
    site: str = SITE_NAME
    """The end-effector site."""
    base_body: str = BASE_BODY_NAME
    """The body whose frame targets are expressed in."""


@dataclass(frozen=True)
class IKResult:
    """Outcome of one solve.

    Attributes:
        converged: both errors within the configured tolerances.
        iterations: Jacobian steps taken, over all seeds.
        position_error: distance between reached and target positions (m).
        orientation_error: angle between reached and target orientations (rad).
        status: ``"converged"``; ``"unreachable"`` (the target lies beyond the arm's reach, or the error
            stopped decreasing: the target, or its orientation for this 5-DOF arm, cannot be reached from any
            seed tried; the joints give the closest pose found); ``"max_iterations"`` (still improving when the
            budget ran out); ``"step_limited"`` (trajectory mode: the per-step joint bound held the arm back this
            frame).
        restarts: seeds tried after the first one.
    """

    converged: bool
    iterations: int
    position_error: float
    orientation_error: float
    status: IKStatus
    restarts: int = 0


# Levenberg-Marquardt bookkeeping: the damping multiplier grows by this factor on a rejected step...
_MU_UP = 8.0
# ...a descent is declared stalled when the multiplier passes this, or a step changes no joint by more
# than _STEP_FLOOR rad, or the weighted squared error falls by less than _DECREASE_FLOOR relative. A descent
# gaining less than 0.1 % a step would need thousands of steps to get anywhere: it creeps towards a local
# minimum with an error left (measured: declaring it stalled leaves every benchmark target converged and
# saves the iterations that creeping wasted before the restarts).
_MU_MAX = 1e8
_MU_MIN = 1.0
_STEP_FLOOR = 1e-9
_DECREASE_FLOOR = 1e-3
# Only local minima closer than this to the target (m) get their other IK branches tried as seeds.
_BRANCH_RADIUS = 0.05


class IKSolver:
    """Damped-least-squares IK for an SO-101 inside any MuJoCo model; holds its own ``MjData``."""

    def __init__(self, model: mujoco.MjModel, config: IKConfig | None = None) -> None:
        self.model = model
        self.config = config if config is not None else IKConfig()
        cfg = self.config
        self.data = mujoco.MjData(model)
        self.index = ArmIndex.from_model(model, cfg.site, cfg.base_body)
        limits = JointLimits.from_model(model)
        self.lower, self.upper = limits.lower[:N_BODY].copy(), limits.upper[:N_BODY].copy()
        self.cold_start = np.asarray(cfg.cold_start, dtype=np.float64)
        if self.cold_start.shape != (6,):
            raise ValueError(f"cold_start needs 6 joint values, got {self.cold_start.shape}")

        # Contiguous addresses (the usual case) allow slices, which are cheaper than index arrays.
        self._qpos = _slice_if_contiguous(self.index.qpos_adr[:N_BODY])
        self._dofs = _slice_if_contiguous(self.index.dof_adr[:N_BODY])
        self._site = self.index.site_id
        self._sqrt_w = np.array([cfg.position_weight] * 3 + [cfg.orientation_weight] * 3)

        # The base does not move with the arm's joints, so its world pose is read once.
        mujoco.mj_kinematics(model, self.data)
        base = self.index.base_body_id
        self._base = Pose(self.data.xpos[base].copy(), self.data.xquat[base].copy())
        self._base_at_origin = not self._base.position.any() and np.array_equal(self._base.quat, [1.0, 0.0, 0.0, 0.0])

        # Work buffers reused by every iteration.
        self._jac = np.zeros((6, model.nv))
        self._jac_pos, self._jac_rot = self._jac[:3], self._jac[3:]
        self._sqrt_w_col = self._sqrt_w[:, None]
        self._err = np.zeros(6)
        self._err_pos, self._err_rot = self._err[:3], self._err[3:]
        self._lhs = np.zeros((N_BODY, N_BODY))
        self._step = np.zeros(N_BODY)
        self._eye = np.eye(N_BODY)
        self._target_pos = np.zeros(3)
        self._target_quat = np.zeros(4)
        self._site_quat = np.zeros(4)

        self._seeds = RestartSeeds(
            model,
            self.index,
            self.lower,
            self.upper,
            cfg.position_weight,
            cfg.orientation_weight,
            cfg.seed_table_size,
            cfg.seed,
        )
        self._reach_centre_world, self.reach = self._reach_sphere()
        self.reach_centre = self._base.inverse().transform_point(self._reach_centre_world)
        """Centre of the sphere of radius ``reach`` (m) that holds every position the site can take (base frame, m):
        a target farther from it is out of reach."""

    # ------------------------------------------------------------------ public API

    def solve(
        self, target_pos: np.ndarray, target_quat: np.ndarray, q_init: np.ndarray | None = None
    ) -> tuple[np.ndarray, IKResult]:
        """Joint angles that put the gripper frame at a target pose.

        Args:
            target_pos: (3,) target position in the base frame (m).
            target_quat: (4,) target orientation ``[w, x, y, z]`` in the base frame (normalised here).
            q_init: (6,) radians to start from (warm start, e.g. the previous solution when tracking); its
                gripper value passes through. ``None`` solves cold from ``config.cold_start``. A descent that does
                not converge is followed by restarts from other seeds (for warm starts only if
                ``config.restart_warm``); the best pose found is returned.

        Returns:
            ``(q, result)``: (6,) radians within the joint limits and an ``IKResult``. A target out of reach
            gives the closest pose found with ``converged=False``.
        """
        self._set_target(target_pos, target_quat)
        if q_init is None:
            q = self.cold_start.copy()
        else:
            q = np.array(q_init, dtype=np.float64)
            if q.shape != (6,) or not np.isfinite(q).all():
                raise ValueError(f"q_init needs 6 finite joint angles (rad), got {q_init!r}")

        q_body, iterations, best_energy, pos_err, rot_err, status = self._descend(q[:N_BODY])
        restarts = 0
        if status != "converged" and (q_init is None or self.config.restart_warm):
            # The descent stalled, mostly in the wrong IK branch against a joint limit (a cold start from the
            # folded pose, or a tracked target that left the branch it was followed in). Restart from
            # the other branches of each local minimum near the target, which tabulated seeds near the
            # limits rarely cover, in turn with tabulated seeds whose poses are near the target.
            minima = [q_body]
            pending = self._seeds.branches(q_body) if pos_err < _BRANCH_RADIUS else []
            table = iter(self._seeds.nearest(self._target_pos, self._target_quat, self.config.restarts))
            while restarts < self.config.restarts:
                # Alternate the two sources, so neither can use up the budget alone.
                seed = pending.pop(0) if pending and restarts % 2 == 0 else next(table, None)
                if seed is None and pending:
                    seed = pending.pop(0)
                if seed is None:
                    break
                restarts += 1
                found, steps, energy, found_pos, found_rot, found_status = self._descend(seed)
                iterations += steps
                if energy < best_energy:
                    q_body, best_energy, pos_err, rot_err, status = found, energy, found_pos, found_rot, found_status
                if found_status == "converged":
                    break
                if found_pos < _BRANCH_RADIUS and all(np.max(np.abs(found - other)) > SEED_SPREAD for other in minima):
                    minima.append(found)
                    pending.extend(self._seeds.branches(found))
        if status == "max_iterations" and self._beyond_reach():
            status = "unreachable"
        q[:N_BODY] = q_body
        return q, IKResult(status == "converged", iterations, pos_err, rot_err, status, restarts)

    def errors_at(self, q: np.ndarray) -> tuple[float, float]:
        """Position (m) and orientation (rad) errors at joints ``q`` (6, rad) from the target of the last solve."""
        self._evaluate(q[:N_BODY])
        return math.sqrt(self._err_pos @ self._err_pos), math.sqrt(self._err_rot @ self._err_rot)

    # ------------------------------------------------------------------ internals

    def _set_target(self, target_pos: np.ndarray, target_quat: np.ndarray) -> None:
        """Store the target in world coordinates, where MuJoCo's site pose and Jacobian live."""
        pos = np.asarray(target_pos, dtype=np.float64)
        quat = np.asarray(target_quat, dtype=np.float64)
        if pos.shape != (3,) or quat.shape != (4,):
            raise ValueError(f"a target needs a (3,) position and a (4,) quaternion, got {pos.shape}, {quat.shape}")
        norm = math.sqrt(quat @ quat)
        if not (norm > 1e-9 and math.isfinite(norm) and math.isfinite(pos @ pos)):
            raise ValueError(f"the target must be finite with a non-zero quaternion, got {pos}, {quat}")
        if self._base_at_origin:
            self._target_pos[:] = pos
            np.divide(quat, norm, out=self._target_quat)
        else:
            self._target_pos[:], self._target_quat[:] = self._base.compose(Pose(pos, quat / norm))

    def _reach_sphere(self) -> tuple[np.ndarray, float]:
        """A sphere that holds every position the site can take: its centre (the pan joint's anchor, world frame)
        and radius (m).

        Each joint's anchor keeps its distance to the previous one whatever the joint angles (both lie on the
        rigid link between them, or on the axis the link turns about), and so does the site to the last anchor;
        by the triangle inequality the site is never farther from the pan anchor than the sum of those distances.
        """
        data = self.data
        data.qpos[self._qpos] = 0.0
        mujoco.mj_kinematics(self.model, data)
        joint_ids = [int(np.flatnonzero(self.model.jnt_qposadr == adr)[0]) for adr in self.index.qpos_adr[:N_BODY]]
        points = np.array([data.xanchor[j] for j in joint_ids] + [data.site_xpos[self._site]])
        return points[0].copy(), float(np.sum(np.linalg.norm(np.diff(points, axis=0), axis=1)))

    def _beyond_reach(self) -> bool:
        """The current target lies outside the reach sphere (by more than the position tolerance)."""
        distance = float(np.linalg.norm(self._target_pos - self._reach_centre_world))
        return distance > self.reach + self.config.position_tolerance

    def _evaluate(self, q_body: np.ndarray) -> None:
        """Run kinematics at ``q_body`` and write the error (target minus current) to ``_err``.

        ``_err[:3]`` is the position error (m, world axes); ``_err[3:]`` the rotation vector (rad) that
        turns the current orientation into the target one, in the site's own axes (one ``mju_subQuat``
        call; ``_descend`` turns the Jacobian's rotational rows into the same axes).
        """
        data = self.data
        data.qpos[self._qpos] = q_body
        mujoco.mj_kinematics(self.model, data)
        np.subtract(self._target_pos, data.site_xpos[self._site], out=self._err_pos)
        # MuJoCo's own quaternion routines into preallocated buffers, not the pose layer: this runs at every
        # iterate, where numpy's per-call overhead would dominate a tracking solve.
        mujoco.mju_mat2Quat(self._site_quat, data.site_xmat[self._site])
        mujoco.mju_subQuat(self._err_rot, self._target_quat, self._site_quat)

    def _descend(self, seed: np.ndarray) -> tuple[np.ndarray, int, float, float, float, IKStatus]:
        """One Levenberg-Marquardt descent from ``seed`` (5 body joints, rad).

        Returns ``(q_body, iterations, weighted squared error, position error, orientation error, status)``.
        This is the hot loop of tracking, hence the local names and squared tolerances.
        """
        cfg = self.config
        model, data, sqrt_w = self.model, self.data, self._sqrt_w
        err, err_pos, err_rot = self._err, self._err_pos, self._err_rot
        lower, upper, dofs, site = self.lower, self.upper, self._dofs, self._site
        jac, jac_pos, jac_rot, sqrt_w_col = self._jac, self._jac_pos, self._jac_rot, self._sqrt_w_col
        lhs, step, eye = self._lhs, self._step, self._eye
        site_mat = data.site_xmat[site]
        w_pos2, w_rot2 = cfg.position_weight**2, cfg.orientation_weight**2
        tol_pos2 = cfg.position_tolerance**2
        tol_rot2 = cfg.orientation_tolerance**2 if cfg.orientation_weight > 0.0 else math.inf

        q = np.minimum(np.maximum(seed, lower), upper)
        self._evaluate(q)
        pos2, rot2 = err_pos @ err_pos, err_rot @ err_rot
        energy = w_pos2 * pos2 + w_rot2 * rot2
        mu = _MU_MIN
        need_jacobian = True
        status: IKStatus = "max_iterations"
        iterations = 0
        while True:
            if pos2 <= tol_pos2 and rot2 <= tol_rot2:
                status = "converged"
                break
            if iterations >= cfg.max_iterations:
                break
            if need_jacobian:
                # data holds the kinematics of q, the last accepted iterate, and _err its error: add what
                # mj_jacSite reads, then express the rotational rows in the site's axes like _err[3:].
                mujoco.mj_comPos(model, data)
                mujoco.mj_jacSite(model, data, jac_pos, jac_rot, site)
                jw = jac[:, dofs] * sqrt_w_col
                jw[3:] = site_mat.reshape(3, 3).T @ jw[3:]
                hessian = jw.T @ jw
                gradient = jw.T @ (err * sqrt_w)
                iterations += 1
            damping = mu * energy + cfg.damping
            np.multiply(eye, damping, out=lhs)
            lhs += hessian
            # H + damping I is symmetric positive definite: Cholesky, in place, without numpy's overhead.
            mujoco.mju_cholFactor(lhs, 0.0)
            mujoco.mju_cholSolve(step, lhs, gradient)
            candidate = q + step
            outside = (candidate < lower) | (candidate > upper)
            if outside.any():
                # Hold the joints that would leave their range at the limit; re-solve for the others
                # with the residual that holding them leaves, so the free joints compensate.
                candidate = np.minimum(np.maximum(candidate, lower), upper)
                held = candidate - q
                free = ~outside
                if free.any():
                    sub = hessian[np.ix_(free, free)] + damping * np.eye(int(free.sum()))
                    residual = gradient[free] - hessian[np.ix_(free, outside)] @ held[outside]
                    candidate[free] = np.minimum(
                        np.maximum(q[free] + np.linalg.solve(sub, residual), lower[free]), upper[free]
                    )

            self._evaluate(candidate)
            new_pos2, new_rot2 = err_pos @ err_pos, err_rot @ err_rot
            new_energy = w_pos2 * new_pos2 + w_rot2 * new_rot2
            if new_energy < energy:
                decrease = energy - new_energy
                previous, q = q, candidate
                energy, pos2, rot2 = new_energy, new_pos2, new_rot2
                mu = max(mu / _MU_UP, _MU_MIN)
                need_jacobian = True
                if (
                    decrease <= _DECREASE_FLOOR * energy or np.max(np.abs(q - previous)) <= _STEP_FLOOR
                ) and not (pos2 <= tol_pos2 and rot2 <= tol_rot2):
                    status = "unreachable"
                    break
            else:
                # Rejected: damp harder and retry from q with the same Jacobian.
                mu *= _MU_UP
                need_jacobian = False
                if mu > _MU_MAX or np.max(np.abs(candidate - q)) <= _STEP_FLOOR:
                    status = "unreachable"
                    break
        return q, iterations, float(energy), math.sqrt(pos2), math.sqrt(rot2), status


def _slice_if_contiguous(addresses: np.ndarray) -> slice | np.ndarray:
    """A slice equivalent to ``addresses`` when they are consecutive, else the index array itself."""
    start = int(addresses[0])
    if np.array_equal(addresses, np.arange(start, start + len(addresses))):
        return slice(start, start + len(addresses))
    return addresses
