"""A scripted pick-and-place expert: plans gripper poses with the IK and turns them into joint targets.

The expert reads the true brick and bowl poses from the simulation (it is privileged; a policy is not) and
moves like a careful human demonstrator at 30 fps: approach above the brick with the jaws across its width,
descend, close, lift, carry over the bowl, lower, open, retreat. Every phase is a minimum-jerk move of the
``gripperframe`` site planned when the phase starts, from where the arm then is, so a brick that slipped or a
grasp that missed is seen and tried again (up to ``max_grasp_attempts``).

Grasp geometry (measured on the workbench's model): ``gripperframe`` is at the fingertip of the fixed jaw; its
x axis points out of the gripper, its z axis from the fixed jaw towards the moving jaw; the fixed pad's inner face
is 0.6 mm behind the site along z. With x pointing straight down and y along the brick's long side, the brick's
centre must lie ``jaw_offset`` ahead of the site along z (half the brick's 31.8 mm width, the pad offset and a
little clearance), so that the closing moving jaw pushes the brick against the fixed one.

Frames: poses in the arm's ``base`` frame (the IK's), metres; joint targets out in dataset units. The moves
themselves are planned by ``so101.teleop.expert_planner``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from so101.kinematics.fk import BASE_BODY_NAME
from so101.kinematics.pose import Pose, quat_from_xyaxes, quat_multiply, quat_rotate, yaw_quat
from so101.kinematics.units import dataset_to_radians
from so101.sim.scene import BOWL_INNER_RADIUS
from so101.teleop.action_source import ActionSource
from so101.teleop.expert_planner import Move, MovePlanner, Waypoint

if TYPE_CHECKING:
    from so101.kinematics.ik import IKResult
    from so101.sim.simulator import So101Sim

PHASES: tuple[str, ...] = ("approach", "descend", "close", "lift", "carry", "lower", "release", "retreat", "done")
"""The expert's phases in the order of a successful episode; ``recover`` (open and rise to retry) may interleave."""


@dataclass
class NoiseConfig:
    """Perturbations that make demonstrations diverse. All zero/off gives the same motion for the same scene."""

    enabled: bool = False
    """Perturb the demonstrations (all the settings below); off, the same scene gives the same motion."""
    hover_jitter: float = 0.01
    """Standard deviation (m) of the hover and carry waypoints, each axis."""
    grasp_jitter_along: float = 0.006
    """Standard deviation (m) of the grasp point along the brick's long side (safe: the brick is 64 mm long)."""
    grasp_jitter_across: float = 0.002
    """Scale (m) of a half-normal shift of the grasp away from the brick, across it: the fixed jaw must clear the
    brick's side by a margin, the moving jaw opens ~30 mm wider than the brick."""
    yaw_jitter_deg: float = 3.0
    """Standard deviation (deg) of the gripper's yaw at the grasp."""
    release_jitter: float = 0.012
    """Standard deviation (m) of the release point around the bowl's centre, each horizontal axis."""
    speed_range: tuple[float, float] = (0.8, 1.25)
    """Per-episode speed factor, drawn uniformly; each move varies a further +-10 percent."""
    regrasp_probability: float = 0.1
    """Chance per episode of opening after the first close, rising a little and grasping again."""

    def __post_init__(self) -> None:
        low, high = self.speed_range
        if not 0.0 < low <= high:
            raise ValueError(f"speed_range must be (low, high) with 0 < low <= high, got {self.speed_range}")
        if not 0.0 <= self.regrasp_probability <= 1.0:
            raise ValueError(f"regrasp_probability must be within 0..1, got {self.regrasp_probability}")


@dataclass
class ExpertConfig:
    """Geometry and pace of the scripted demonstration. Heights in metres, speeds in m/s, times in seconds."""

    hover_height: float = 0.07
    """Height of the pre-grasp pose above the grasp pose."""
    grasp_height: float = 0.001
    """Height of the site above the brick's centre when grasping: the middle of the window that holds the brick
    (-0.007 to +0.009 m measured; higher, the fingertips hold too little of it)."""
    grasp_yaw_centre: float = 2.0
    """Gripper yaw (rad, base frame) in the middle of the grasps the expert takes. The brick looks the same turned
    by half a turn, so it has two grasps; the one within a quarter turn of this yaw is taken (the other where the
    arm cannot reach it). The choice then depends on the brick's orientation alone, one boundary everywhere for a
    policy to learn; 2.0 keeps the wrist roll within +-108 deg (measured) over the brick's region."""
    jaw_offset: float = 0.030
    """Distance from the site to the brick's centre along the site's z (jaw-closing) axis: the middle of the
    window that grasps (0.017-0.042 m measured: nearer, the fixed jaw lands on the brick; the moving jaw opens
    ~30 mm wider than the brick), so a policy that imitates it has room to err either way."""
    carry_height: float = 0.13
    """Height of the site above the table while carrying (clears the bowl's rim with the brick)."""
    release_height: float = 0.05
    """Height of the site above the bowl's bottom when opening."""
    retreat_height: float = 0.08
    """How far the gripper rises after releasing."""
    speed: float = 0.12
    """Mean speed of free moves."""
    slow_speed: float = 0.05
    """Mean speed of the moves near the brick (descend, lower, first part of the lift)."""
    turn_speed: float = 1.5
    """Mean turning speed of the gripper (rad/s)."""
    joint_speed: float = 1.5
    """Mean speed of the fastest joint in a free move (rad/s)."""
    gripper_open: float = 60.0
    """Gripper opening (dataset units, 0..100) for approaching and releasing."""
    gripper_closed: float = 0.0
    """Gripper command while holding: the servo squeezes, the brick stops the jaws."""
    gripper_time: float = 0.5
    """Time to open or close the gripper."""
    dwell_time: float = 0.25
    """Pause after arriving at the grasp and the release poses, letting the servos settle."""
    max_grasp_attempts: int = 3
    """Grasps tried before the episode is given up."""
    max_joint_step_deg: float = 6.0
    """Largest change of any joint target per frame (deg): 180 deg/s at 30 fps."""
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    seed: int = 0
    """Seed of the noise. Each episode draws from a generator seeded by this and the scene's seed, so the same
    scene gets the same demonstration."""

    def __post_init__(self) -> None:
        for name in ("speed", "slow_speed", "turn_speed", "joint_speed", "gripper_time", "max_joint_step_deg"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_grasp_attempts < 1:
            raise ValueError(f"max_grasp_attempts must be at least 1, got {self.max_grasp_attempts}")


class ScriptedExpert(ActionSource):
    """Pick-and-place by IK-planned minimum-jerk moves, re-planned at every phase from the simulation state."""

    name = "scripted"

    def __init__(self, config: ExpertConfig | None = None) -> None:
        self.config = config or ExpertConfig()
        self._rng = np.random.default_rng()
        self._planner: MovePlanner | None = None
        self.phase = "done"
        self.attempts = 0
        self.phase_log: list[str] = []
        """Phases entered this episode, in order (for benchmarks and tests)."""

    # ------------------------------------------------------------------ ActionSource

    def start_episode(self, sim: So101Sim) -> None:
        if self._planner is None or self._planner.model is not sim.model:
            self._planner = MovePlanner(sim.model)
            self._base_body = mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_BODY, BASE_BODY_NAME)
        noise = self.config.noise
        scene_seed = sim.placement.seed if sim.placement is not None and sim.placement.seed is not None else 0
        self._rng = np.random.default_rng([self.config.seed, scene_seed])
        self._speed_factor = float(self._rng.uniform(*noise.speed_range)) if noise.enabled else 1.0
        self._regrasp_pending = bool(noise.enabled and self._rng.random() < noise.regrasp_probability)
        self._sim = sim
        self._last = sim.commanded_targets()
        self._grasp_yaw: float | None = None
        self.attempts = 1
        self.phase_log = []
        self._enter("approach")

    def next_action(self, sim: So101Sim) -> np.ndarray:
        move = self._move
        while move.finished and self.phase != "done":
            self._enter(self._next_phase())
            move = self._move
        if move.finished:
            return self._last.copy()
        action = move.actions[move.cursor]
        move.cursor += 1
        self._last = action
        return action.copy()

    # ------------------------------------------------------------------ phase logic

    def _next_phase(self) -> str:
        """The phase after the one just finished, judged from the simulation's task signals."""
        signals = self._sim.signals
        phase = self.phase
        if phase == "close" and self._regrasp_pending:
            self._regrasp_pending = False
            return "recover"
        if phase == "lift" and not signals.grasped:
            return self._retry_or_give_up()
        if phase in ("carry", "lower") and not signals.grasped:
            # Dropped on the way: if it fell into the bowl the episode succeeds by itself; otherwise retry.
            return "retreat" if self._brick_over_bowl() else self._retry_or_give_up()
        if phase == "recover":
            return "approach"
        order = {p: PHASES[i + 1] for i, p in enumerate(PHASES[:-1])}
        return order.get(phase, "done")

    def _retry_or_give_up(self) -> str:
        if self.attempts >= self.config.max_grasp_attempts:
            return "done"
        self.attempts += 1
        return "recover"

    def _enter(self, phase: str) -> None:
        self.phase = phase
        self.phase_log.append(phase)
        cfg = self.config
        pos, quat = self._commanded_pose()
        up = np.array([0.0, 0.0, 1.0])
        if phase == "approach":
            grasp_pos, grasp_quat = self._grasp_pose()
            hover = grasp_pos + cfg.hover_height * up + self._jitter(cfg.noise.hover_jitter)
            # Seeded from the grasp solution, the hover pose is in the grasp's IK branch; the descent stays in it.
            self._plan(phase, [Waypoint(hover, grasp_quat, cfg.speed, "joint", self._grasp_q)], cfg.gripper_open)
        elif phase == "descend":
            grasp_pos, grasp_quat = self._grasp_pose(refresh_yaw=False)
            self._plan(phase, [Waypoint(grasp_pos, grasp_quat, cfg.slow_speed, "line")], dwell=cfg.dwell_time)
        elif phase == "close":
            self._plan(phase, [], gripper_to=cfg.gripper_closed, dwell=cfg.dwell_time)
        elif phase == "lift":
            top = pos.copy()
            top[2] = max(cfg.carry_height, pos[2] + 0.03)
            self._plan(
                phase,
                [
                    Waypoint(pos + 0.03 * up, quat, cfg.slow_speed, "line_position"),
                    Waypoint(top, quat, cfg.speed, "joint"),
                ],
            )
        elif phase == "carry":
            above, release_quat = self._release_pose(quat)
            above[2] = max(cfg.carry_height, pos[2])
            self._plan(phase, [Waypoint(above, release_quat, cfg.speed, "joint")])
        elif phase == "lower":
            target = pos.copy()
            target[2] = self._bowl_base()[2] + cfg.release_height
            self._plan(phase, [Waypoint(target, quat, cfg.slow_speed, "line_position")], dwell=cfg.dwell_time)
        elif phase == "release":
            self._plan(phase, [], gripper_to=cfg.gripper_open, dwell=cfg.dwell_time)
        elif phase == "retreat":
            self._plan(phase, [Waypoint(pos + cfg.retreat_height * up, quat, cfg.speed, "line_position")])
        elif phase == "recover":
            self._plan(phase, [Waypoint(pos + 0.04 * up, quat, cfg.slow_speed, "line_position")], cfg.gripper_open)
        elif phase == "done":
            self._move = Move(phase, np.empty((0, 6)))
        else:
            raise AssertionError(f"unknown phase {phase}")

    # ------------------------------------------------------------------ poses (base frame)

    def _grasp_pose(self, refresh_yaw: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Site pose that holds the brick across its width, x down, y along the brick's long side.

        With ``refresh_yaw`` the yaw (brick yaw or that + pi, see ``grasp_yaw_centre``) and the noise of the grasp
        are drawn anew, and ``_grasp_q`` holds the joints that reach the pose.
        """
        noise = self.config.noise
        brick_pos, long_axis = self._brick_pose()
        brick_yaw = math.atan2(long_axis[1], long_axis[0])
        if refresh_yaw or self._grasp_yaw is None:
            jitter = math.radians(self._rng.normal(0.0, noise.yaw_jitter_deg)) if noise.enabled else 0.0
            self._grasp_shift = (
                (self._rng.normal(0.0, noise.grasp_jitter_along), abs(self._rng.normal(0.0, noise.grasp_jitter_across)))
                if noise.enabled
                else (0.0, 0.0)
            )
            candidates = [self._grasp_at(brick_pos, yaw + jitter) for yaw in (brick_yaw, brick_yaw + math.pi)]
            self._grasp_yaw, self._grasp_q = min(candidates, key=lambda c: self._yaw_cost(c[0], c[2]))[:2]
        return self._grasp_at(brick_pos, self._grasp_yaw)[3:]

    def _grasp_at(self, brick_pos: np.ndarray, yaw: float) -> tuple:
        """(yaw, joints, IK result, position, orientation) of the grasp at ``yaw`` (rad, wrapped to +-pi)."""
        assert self._planner is not None
        yaw = math.atan2(math.sin(yaw), math.cos(yaw))
        y_axis = np.array([math.cos(yaw), math.sin(yaw), 0.0])
        z_axis = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
        along, across = self._grasp_shift
        pos = brick_pos - (self.config.jaw_offset + across) * z_axis + along * y_axis
        pos[2] += self.config.grasp_height
        quat = _down_quat(yaw)
        q, result = self._planner.ik.solve(pos, quat, self._radians(self._last))
        return yaw, q, result, pos, quat

    def _yaw_cost(self, yaw: float, result: IKResult) -> float:
        """Angle (rad) from ``grasp_yaw_centre`` to the grasp's yaw, plus a large penalty for a pose the arm
        cannot take."""
        turn = abs(math.remainder(yaw - self.config.grasp_yaw_centre, 2 * math.pi))
        reachable = result.converged or (result.position_error < 0.002 and result.orientation_error < 0.1)
        return turn + (0.0 if reachable else 10.0)

    def _release_pose(self, quat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Above the bowl's centre, the gripper turned with the pan so the wrist roll barely moves."""
        noise = self.config.noise
        bowl = self._bowl_base()
        target = bowl.copy()
        if noise.enabled:
            offset = self._rng.normal(0.0, noise.release_jitter, 2)
            limit = 0.4 * BOWL_INNER_RADIUS
            target[:2] += offset * min(1.0, limit / max(float(np.linalg.norm(offset)), 1e-9))
        target += self._jitter(noise.hover_jitter) * [0.0, 0.0, 1.0]
        pos, _ = self._commanded_pose()
        turn = math.atan2(target[1], target[0]) - math.atan2(pos[1], pos[0])
        return target, quat_multiply(yaw_quat(turn), quat)

    def _brick_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """The brick's centre (m) and long axis (unit vector), base frame."""
        brick = self._base_from_world().compose(self._world_pose(self._sim.scene.brick_body))
        return brick.position, quat_rotate(brick.quat, np.array([1.0, 0.0, 0.0]))

    def _bowl_base(self) -> np.ndarray:
        """The centre of the bowl's underside (m), base frame."""
        return self._base_from_world().transform_point(self._sim.data.xpos[self._sim.scene.bowl_body])

    def _world_pose(self, body: int) -> Pose:
        return Pose(self._sim.data.xpos[body], self._sim.data.xquat[body])

    def _base_from_world(self) -> Pose:
        return self._world_pose(self._base_body).inverse()

    def _brick_over_bowl(self) -> bool:
        brick, _ = self._brick_pose()
        return bool(np.hypot(*(brick[:2] - self._bowl_base()[:2])) < BOWL_INNER_RADIUS)

    def _commanded_pose(self) -> Pose:
        """Pose the last commanded joints put the site at (where the arm is heading, not where it lags)."""
        assert self._planner is not None
        return self._planner.pose_of(self._radians(self._last))

    def _jitter(self, sigma: float) -> np.ndarray:
        return self._rng.normal(0.0, sigma, 3) if self.config.noise.enabled else np.zeros(3)

    # ------------------------------------------------------------------ planning

    def _plan(
        self, phase: str, waypoints: list[Waypoint], gripper_to: float | None = None, dwell: float = 0.0
    ) -> None:
        """Plan this phase's move from the joints commanded last (see ``MovePlanner.plan``)."""
        assert self._planner is not None
        rng = self._rng if self.config.noise.enabled else None
        self._move = self._planner.plan(
            phase, self._last, waypoints, self.config, self._sim.fps, self._speed_factor, rng, gripper_to, dwell
        )

    def _radians(self, action: np.ndarray) -> np.ndarray:
        return dataset_to_radians(action, self._sim.scene.limits)


def _down_quat(yaw: float) -> np.ndarray:
    """Site orientation [w, x, y, z] with x pointing straight down and y at ``yaw`` about +z."""
    return quat_from_xyaxes(np.array([0.0, 0.0, -1.0, math.cos(yaw), math.sin(yaw), 0.0]))
