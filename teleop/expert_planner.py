"""The scripted expert's motion layer: minimum-jerk moves of the gripper, turned into joint targets with the IK.

A move starts at the joints commanded last and goes through waypoints, each a pose of the ``gripperframe`` site
in the arm's ``base`` frame (metres, quaternion ``[w, x, y, z]``). How the site gets there depends on the mode:

* ``joint``: the joints are interpolated from start to the IK solution of the end pose (free moves: the path of the
  site is a curve, the arm moves like a person's, never through a singularity);
* ``line``: the site follows a straight line and its orientation a slerp, solved frame by frame (the moves at the
  brick, where a curve would knock it);
* ``line_position``: a straight line too, but the orientation is kept only as far as the 5-joint arm allows.

Each move lasts long enough for its distance, its turn and its largest joint change at the configured speeds, and
no joint target changes by more than ``max_joint_step_deg`` between frames. Joint targets out are in dataset units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import mujoco
import numpy as np

from so101.kinematics.fk import ForwardKinematics
from so101.kinematics.ik import IKConfig, IKSolver
from so101.kinematics.ik_trajectory import solve_trajectory
from so101.kinematics.pose import Pose, quat_angle, quat_slerp
from so101.kinematics.units import GRIPPER_INDEX, JointLimits, dataset_to_radians, radians_to_dataset

if TYPE_CHECKING:
    from so101.teleop.scripted_expert import ExpertConfig

MoveMode = Literal["joint", "line", "line_position"]


@dataclass
class Waypoint:
    """The end of one move: the site's pose (base frame), the mean speed (m/s) and the mode (module docstring)."""

    pos: np.ndarray
    quat: np.ndarray
    speed: float
    mode: MoveMode
    seed: np.ndarray | None = None
    """Joints (rad) to start the IK of a ``joint`` move from, instead of the current ones."""


@dataclass
class Move:
    """A planned phase: per-frame joint targets in dataset units, shape (T, 6), and how many were played."""

    phase: str
    actions: np.ndarray
    cursor: int = 0

    @property
    def finished(self) -> bool:
        return self.cursor >= len(self.actions)


def min_jerk(t: np.ndarray) -> np.ndarray:
    """Minimum-jerk progress 0..1 for normalised time ``t`` in 0..1."""
    return t**3 * (10.0 - 15.0 * t + 6.0 * t**2)


class MovePlanner:
    """Plans moves for the SO-101 of ``model`` with the workbench's IK; holds its own ``MjData``."""

    def __init__(self, model: mujoco.MjModel) -> None:
        self.model = model
        self.limits = JointLimits.from_model(model)
        self.ik = IKSolver(model, IKConfig(restarts=4))
        """Full-pose IK (position and orientation), for the grasp."""
        # Gripper straight down is out of reach above ~6 cm (wrist_flex at its limit): free moves and the moves over
        # the bowl take the nearest orientation and hold the position.
        self.ik_position = IKSolver(model, IKConfig(restarts=4, orientation_weight=0.02))
        self._fk = ForwardKinematics(model)

    def pose_of(self, q: np.ndarray) -> Pose:
        """Site pose (base frame) for joints ``q`` (6, rad)."""
        return self._fk.pose(q)

    def plan(
        self,
        phase: str,
        start: np.ndarray,
        waypoints: list[Waypoint],
        config: ExpertConfig,
        fps: int,
        speed_factor: float = 1.0,
        rng: np.random.Generator | None = None,
        gripper_to: float | None = None,
        dwell: float = 0.0,
    ) -> Move:
        """Minimum-jerk moves through ``waypoints``, then a dwell; the gripper moves to ``gripper_to`` meanwhile.

        Args:
            phase: the name the move is logged under.
            start: (6,) joint targets commanded last, dataset units.
            waypoints: the poses to go through, in order.
            config: speeds, gripper time and joint-step bound.
            fps: control rate (frames per second).
            speed_factor: the episode's pace (above 1 is faster).
            rng: varies each move's duration by +-10 percent; None keeps the durations exact.
            gripper_to: gripper target (dataset units) reached ``config.gripper_time`` after the start; None keeps it.
            dwell: time (s) to hold the last pose at the end. A phase without waypoints lasts the gripper's time.
        """

        def frames(pos: np.ndarray, quat: np.ndarray, end: Pose, speed: float, joint_turn: float) -> int:
            """Long enough for the move's distance, its turn (rad) and its largest joint change (rad)."""
            duration = max(
                float(np.linalg.norm(end.position - pos)) / speed,
                float(quat_angle(quat, end.quat)) / config.turn_speed,
                joint_turn / config.joint_speed,
                0.3,
            )
            duration /= speed_factor
            if rng is not None:
                duration *= float(rng.uniform(0.9, 1.1))
            return max(1, round(duration * fps))

        q = dataset_to_radians(start, self.limits)
        chunks: list[np.ndarray] = []
        for waypoint in waypoints:
            pos, quat = self.pose_of(q)
            if waypoint.mode == "joint":
                seed = q if waypoint.seed is None else waypoint.seed
                q_end, _ = self.ik_position.solve(waypoint.pos, waypoint.quat, seed)
                joint_turn = float(np.max(np.abs(q_end - q)[:GRIPPER_INDEX]))
                steps = frames(pos, quat, self.pose_of(q_end), waypoint.speed, joint_turn)
                chunk = q + min_jerk(np.arange(1, steps + 1) / steps)[:, None] * (q_end - q)
            else:
                steps = frames(pos, quat, Pose(waypoint.pos, waypoint.quat), waypoint.speed, 0.0)
                s = min_jerk(np.arange(1, steps + 1) / steps)
                positions = pos + s[:, None] * (waypoint.pos - pos)
                quats = quat_slerp(quat, waypoint.quat, s)
                solver = self.ik if waypoint.mode == "line" else self.ik_position
                chunk, _ = solve_trajectory(
                    solver, positions, quats, q_init=q, max_joint_step=math.radians(config.max_joint_step_deg)
                )
            chunks.append(chunk)
            q = chunk[-1]
        move_steps = sum(len(chunk) for chunk in chunks)
        gripper_steps = round(config.gripper_time * fps) if gripper_to is not None else 0
        total = max(move_steps, gripper_steps) + round(dwell * fps / speed_factor) or 1
        qs = np.concatenate([*chunks, np.repeat(q[None], total - move_steps, axis=0)])
        actions = radians_to_dataset(qs, self.limits)
        start_gripper = float(start[GRIPPER_INDEX])
        if gripper_to is None:
            actions[:, GRIPPER_INDEX] = start_gripper
        else:
            ramp = min_jerk(np.minimum(np.arange(1, total + 1) / max(gripper_steps, 1), 1.0))
            actions[:, GRIPPER_INDEX] = start_gripper + ramp * (gripper_to - start_gripper)
        return Move(phase, actions)
