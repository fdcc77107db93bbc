"""Inverse kinematics of the SO-101 by damped least squares on MuJoCo's site Jacobian.

The solver moves the five body joints (``shoulder_pan`` .. ``wrist_roll``) so that the ``gripperframe``
site reaches a target pose given in the frame of the arm's ``base`` body (position in metres, orientation as
``[w, x, y, z]``). The gripper joint is not used and passes through unchanged. Joint vectors in and out are
(6,) radians in LeRobot order; convert dataset units with ``kinematics.units``.

Method: Levenberg-Marquardt on the weighted 6-D pose error. The damping grows with the remaining error
(Sugihara's rule), so steps stay short far from the target, near singularities and for unreachable targets,
and vanish close to a solution where the iteration converges quadratically. Joint limits hold at every
iterate: a joint whose step would leave its range is held at the limit and the step is re-solved for the
others. A 5-DOF arm cannot reach every orientation: the solver then stops at the minimum of the weighted
error and reports ``status="unreachable"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import mujoco
import numpy as np

from kinematics.fk import BASE_BODY_NAME, SITE_NAME, ArmIndex
from kinematics.units import GRIPPER_INDEX, JointLimits

REST_POSE: tuple[float, ...] = (0.0, -1.658, 1.658, 1.222, 0.0, 0.0)
"""The folded pose the SO-101 rests in (rad, LeRobot order: 0, -95, 95, 70, 0, 0 degrees); cold solves start here."""

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
    """Trajectory mode: the largest change of any body joint between consecutive frames (rad)."""
    rest_pose: tuple[float, ...] = REST_POSE
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
        status: ``"converged"``; ``"unreachable"`` (the error stopped decreasing: the target, or its
            orientation for this 5-DOF arm, cannot be reached from any seed tried, and the joints give the
            closest pose found);
            ``"max_iterations"`` (still improving when the budget ran out); ``"step_limited"`` (trajectory
            mode: the per-step joint bound held the arm back this frame).
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
# than _STEP_FLOOR rad, or the weighted squared error falls by less than _DECREASE_FLOOR relative.
_MU_MAX = 1e8
_MU_MIN = 1.0
_STEP_FLOOR = 1e-9
_DECREASE_FLOOR = 1e-9
# Restart seeds are picked among the _SEED_POOL * restarts tabulated poses nearest the target, each differing
# from the seeds already picked by more than _SEED_SPREAD rad in at least one joint.
_SEED_POOL = 8
_SEED_SPREAD = 0.5
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
        self.rest_pose = np.asarray(cfg.rest_pose, dtype=np.float64)
        if self.rest_pose.shape != (6,):
            raise ValueError(f"rest_pose needs 6 joint values, got {self.rest_pose.shape}")

        # Contiguous addresses (the usual case) allow slices, which are cheaper than index arrays.
        self._qpos = _slice_if_contiguous(self.index.qpos_adr[:N_BODY])
        self._dofs = _slice_if_contiguous(self.index.dof_adr[:N_BODY])
        self._site = self.index.site_id
        self._sqrt_w = np.array([cfg.position_weight] * 3 + [cfg.orientation_weight] * 3)

        # The base does not move with the arm's joints, so its world pose is read once.
        mujoco.mj_kinematics(model, self.data)
        base = self.index.base_body_id
        self._base_pos = self.data.xpos[base].copy()
        self._base_quat = self.data.xquat[base].copy()
        self._base_at_origin = not self._base_pos.any() and np.array_equal(self._base_quat, [1.0, 0.0, 0.0, 0.0])

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

        self._seed_joints, self._seed_features = self._tabulate_seeds(cfg.seed_table_size, cfg.seed)
        self._joint_ids = [int(np.flatnonzero(model.jnt_qposadr == adr)[0]) for adr in self.index.qpos_adr[:N_BODY]]
        self._mirror_sums = self._mirror_angle_sums()

    # ------------------------------------------------------------------ public API

    def solve(
        self, target_pos: np.ndarray, target_quat: np.ndarray, q_init: np.ndarray | None = None
    ) -> tuple[np.ndarray, IKResult]:
        """Joint angles that put the gripper frame at a target pose.

        Args:
            target_pos: (3,) target position in the base frame (m).
            target_quat: (4,) target orientation ``[w, x, y, z]`` in the base frame (normalised here).
            q_init: (6,) radians to start from (warm start, e.g. the previous solution when tracking); its
                gripper value passes through. ``None`` solves cold from the rest pose. A descent that does
                not converge is followed by restarts from other seeds (for warm starts only if
                ``config.restart_warm``); the best pose found is returned.

        Returns:
            ``(q, result)``: (6,) radians within the joint limits and an ``IKResult``. A target out of reach
            gives the closest pose found with ``converged=False``.
        """
        self._set_target(target_pos, target_quat)
        if q_init is None:
            q = self.rest_pose.copy()
        else:
            q = np.array(q_init, dtype=np.float64)
            if q.shape != (6,) or not np.isfinite(q).all():
                raise ValueError(f"q_init needs 6 finite joint angles (rad), got {q_init!r}")

        q_body, iterations, best_energy, pos_err, rot_err, status = self._descend(q[:N_BODY])
        restarts = 0
        if status != "converged" and (q_init is None or self.config.restart_warm):
            # The descent stalled, mostly in the wrong IK branch against a joint limit (a cold start from the
            # folded rest pose, or a tracked target that left the branch it was followed in). Restart from
            # the other branches of each local minimum near the target, which tabulated seeds near the
            # limits rarely cover, in turn with tabulated seeds whose poses are near the target.
            minima = [q_body]
            pending = self._branches(q_body) if pos_err < _BRANCH_RADIUS else []
            table = iter(self._nearest_seeds())
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
                if found_pos < _BRANCH_RADIUS and all(np.max(np.abs(found - other)) > _SEED_SPREAD for other in minima):
                    minima.append(found)
                    pending.extend(self._branches(found))
        q[:N_BODY] = q_body
        return q, IKResult(status == "converged", iterations, pos_err, rot_err, status, restarts)

    def solve_trajectory(
        self,
        target_pos: np.ndarray,
        target_quat: np.ndarray,
        q_init: np.ndarray | None = None,
        gripper: np.ndarray | None = None,
        max_joint_step: float | None = None,
    ) -> tuple[np.ndarray, list[IKResult]]:
        """Solve a sequence of targets, each warm-started from the previous frame's joints.

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
                ``q_init`` (or of the rest pose) passes through.
            max_joint_step: bound per frame (rad); defaults to ``config.max_joint_step``.

        Returns:
            ``(qs, results)``: (T, 6) radians and one ``IKResult`` per frame.
        """
        target_pos = np.asarray(target_pos, dtype=np.float64)
        target_quat = np.asarray(target_quat, dtype=np.float64)
        if target_pos.ndim != 2 or target_pos.shape[1] != 3 or target_quat.shape != (len(target_pos), 4):
            raise ValueError(f"targets need shapes (T, 3) and (T, 4), got {target_pos.shape} and {target_quat.shape}")
        if gripper is not None and np.shape(gripper) != (len(target_pos),):
            raise ValueError(f"gripper needs shape ({len(target_pos)},), got {np.shape(gripper)}")
        bound = self.config.max_joint_step if max_joint_step is None else max_joint_step
        if bound <= 0.0:
            raise ValueError(f"max_joint_step must be positive, got {bound}")

        qs = np.empty((len(target_pos), 6))
        results: list[IKResult] = []
        previous = None if q_init is None else np.asarray(q_init, dtype=np.float64)
        for t in range(len(target_pos)):
            q, result = self.solve(target_pos[t], target_quat[t], previous)
            if previous is not None:
                step = q[:N_BODY] - previous[:N_BODY]
                largest = float(np.max(np.abs(step)))
                if largest > bound:
                    q[:N_BODY] = previous[:N_BODY] + step * (bound / largest)
                    pos_err, rot_err = self._errors_at(q[:N_BODY])
                    result = IKResult(False, result.iterations, pos_err, rot_err, "step_limited", result.restarts)
            if gripper is not None:
                q[GRIPPER_INDEX] = gripper[t]
            qs[t] = q
            results.append(result)
            previous = q
        return qs, results

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
            mujoco.mju_rotVecQuat(self._target_pos, pos, self._base_quat)
            self._target_pos += self._base_pos
            mujoco.mju_mulQuat(self._target_quat, self._base_quat, quat / norm)

    def _pose_features(self, positions: np.ndarray, rotations: np.ndarray) -> np.ndarray:
        """(N, 12) vectors whose squared distances approximate the weighted squared pose error.

        For rotation matrices, ``|R1 - R2|_F^2 = 4 (1 - cos angle)``, close to ``2 angle^2`` for small
        angles, hence the ``1/sqrt(2)`` scale on the flattened matrices.
        """
        cfg = self.config
        return np.hstack([cfg.position_weight * positions, cfg.orientation_weight / np.sqrt(2.0) * rotations])

    def _tabulate_seeds(self, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Random body-joint vectors within the limits and the pose features of their site (world frame)."""
        rng = np.random.default_rng(seed)
        joints = rng.uniform(self.lower, self.upper, size=(size, N_BODY))
        positions, rotations = np.empty((size, 3)), np.empty((size, 9))
        for i, q_body in enumerate(joints):
            self.data.qpos[self._qpos] = q_body
            mujoco.mj_kinematics(self.model, self.data)
            positions[i] = self.data.site_xpos[self._site]
            rotations[i] = self.data.site_xmat[self._site]
        return joints, self._pose_features(positions, rotations)

    def _mirror_angle_sums(self) -> np.ndarray:
        """For shoulder_lift, elbow_flex and wrist_flex: the sum ``q + q'`` of a joint angle and its mirror image.

        Turning the pan by pi and mirroring the planar lift/elbow/wrist chain about the pan axis (the arm
        reaching back over its shoulder), then turning the roll by pi, reproduces the gripper's orientation
        exactly and its position within the pan-to-shoulder offset (a few cm). Each planar joint then takes
        the angle ``2 c - q``, where ``c`` is the angle at which its link lines up with the previous one (the
        upper arm with the pan axis, the forearm with the upper arm, the roll axis with the forearm). The
        ``c`` are read from the model at the zero pose.
        """
        data, index = self.data, self.index
        data.qpos[index.qpos_adr] = 0.0
        mujoco.mj_kinematics(self.model, data)
        anchors = [data.xanchor[j].copy() for j in self._joint_ids]
        axes = [data.xaxis[j].copy() for j in self._joint_ids]
        links = [axes[0], anchors[2] - anchors[1], anchors[3] - anchors[2], axes[4]]
        sums = np.empty(3)
        for k in range(3):
            axis, before, after = axes[k + 1], links[k], links[k + 1]
            before, after = before - axis * (axis @ before), after - axis * (axis @ after)
            sums[k] = -2.0 * np.arctan2(axis @ np.cross(before, after), before @ after)
        return sums

    def _mirror(self, q_body: np.ndarray) -> np.ndarray:
        """The other-pan-branch seed for ``q_body`` (see ``_mirror_angle_sums``), wrapped and kept in the limits."""
        mirrored = np.empty(N_BODY)
        mirrored[1:4] = self._mirror_sums - q_body[1:4]
        for k in (0, 4):
            # Of the two ways to turn by pi, take the one that stays within (or nearest to) the range.
            up, down = q_body[k] + np.pi, q_body[k] - np.pi
            mirrored[k] = up if up - self.upper[k] < self.lower[k] - down else down
        mirrored[1:4] = (mirrored[1:4] + np.pi) % (2.0 * np.pi) - np.pi
        return np.minimum(np.maximum(mirrored, self.lower), self.upper)

    def _elbow_flip(self, q_body: np.ndarray) -> np.ndarray:
        """``q_body`` with the elbow on the other side of the shoulder-to-wrist line, the wrist in place.

        The elbow is reflected about the line from the shoulder_lift axis to the wrist_flex axis, and
        wrist_flex compensates so that the roll axis keeps its direction (the three axes are parallel).
        """
        data = self.data
        data.qpos[self._qpos] = q_body
        mujoco.mj_kinematics(self.model, data)
        lift, elbow, wrist = self._joint_ids[1:4]
        axis = data.xaxis[lift]
        to_elbow = data.xanchor[elbow] - data.xanchor[lift]
        to_wrist = data.xanchor[wrist] - data.xanchor[lift]
        to_elbow, to_wrist = to_elbow - axis * (axis @ to_elbow), to_wrist - axis * (axis @ to_wrist)
        half = np.arctan2(axis @ np.cross(to_wrist, to_elbow), to_wrist @ to_elbow)
        flipped = q_body.copy()
        flipped[1] = q_body[1] - 2.0 * half
        flipped[2] = self._mirror_sums[1] - q_body[2]
        flipped[3] = q_body[3] - (flipped[1] - q_body[1]) - (flipped[2] - q_body[2])
        flipped[1:4] = (flipped[1:4] + np.pi) % (2.0 * np.pi) - np.pi
        return np.minimum(np.maximum(flipped, self.lower), self.upper)

    def _branches(self, q_body: np.ndarray) -> list[np.ndarray]:
        """Seeds in the three other IK branches of ``q_body``: elbow flipped, pan mirrored, and both."""
        elbow = self._elbow_flip(q_body)
        return [elbow, self._mirror(q_body), self._mirror(elbow)]

    def _nearest_seeds(self) -> list[np.ndarray]:
        """Up to ``config.restarts`` tabulated joint vectors with poses near the current target, nearest first.

        Poses near the target come from several IK branches (elbow up or down, and the arm turned by pi
        about the pan axis and folded back over the top, which lands within millimetres of the target). A
        seed is only taken when it differs from every seed already taken by ``_SEED_SPREAD`` rad in some
        joint, so the restarts explore distinct branches instead of one branch many times.
        """
        count = min(self.config.restarts, len(self._seed_joints))
        if count == 0:
            return []
        target_mat = np.empty(9)
        mujoco.mju_quat2Mat(target_mat, self._target_quat)
        target = self._pose_features(self._target_pos[None], target_mat[None])[0]
        distances = np.sum((self._seed_features - target) ** 2, axis=1)
        pool = min(_SEED_POOL * count, len(distances))
        nearest = np.argpartition(distances, pool - 1)[:pool]
        chosen: list[np.ndarray] = []
        for candidate in self._seed_joints[nearest[np.argsort(distances[nearest])]]:
            if all(np.max(np.abs(candidate - other)) > _SEED_SPREAD for other in chosen):
                chosen.append(candidate)
                if len(chosen) == count:
                    break
        return chosen

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
        mujoco.mju_mat2Quat(self._site_quat, data.site_xmat[self._site])
        mujoco.mju_subQuat(self._err_rot, self._target_quat, self._site_quat)

    def _errors_at(self, q_body: np.ndarray) -> tuple[float, float]:
        """Position (m) and orientation (rad) errors at ``q_body``."""
        self._evaluate(q_body)
        return math.sqrt(self._err_pos @ self._err_pos), math.sqrt(self._err_rot @ self._err_rot)

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
