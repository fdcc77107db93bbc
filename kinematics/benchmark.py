"""``so101 bench ik``: accuracy and speed of the workbench's IK, side by side with mink on the same targets.

Two workloads, both built from forward kinematics of joint vectors within the limits, so every target is
reachable exactly:

* cold: random joint vectors; each pose is solved from the folded pose (``so101.kinematics.ik.FOLDED_POSE``), no warm
  start;
* tracking: smooth recorded-like joint trajectories (minimum-jerk moves between random waypoints at the
  recording rate); each frame is solved warm-started from the previous frame's solution.

A solve succeeds when the reached pose is within ``--pos_tol_mm`` and ``--rot_tol_deg`` of the target (full
pose: position and orientation). Times are wall-clock per solve on this machine. mink (differential IK on
MuJoCo, an optional dependency) iterates on the same targets from the same starts until the same thresholds
are met or its iteration budget runs out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from so101.command import run_command
from so101.errors import ConfigError, DependencyError
from so101.kinematics.fk import ForwardKinematics
from so101.kinematics.ik import N_BODY, IKConfig, IKSolver
from so101.kinematics.pose import Pose, matrix_to_quat, quat_angle
from so101.kinematics.units import JointLimits

Solver = Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray]
"""(target_pos, target_quat, q_init or None for the cold start) -> (6,) joints; frames as in ``IKSolver``."""

TARGET_SUCCESS = 0.999
"""The workbench's solver should reach at least this share of the targets of each workload (full pose)."""
TARGET_TRACKING_US = 1000.0
"""Median time per tracking solve (us) should stay under this: 3 % of a control step at 30 fps."""


@dataclass
class IkBenchConfig:
    """Options of ``so101 bench ik``."""

    model: str | None = None
    """MJCF of an SO-101 (or a scene containing one); default: the workbench's own ``assets/so101.xml``."""
    targets: int = 10_000
    """Random reachable targets solved cold."""
    trajectories: int = 20
    """Smooth joint trajectories tracked with warm starts."""
    trajectory_seconds: float = 10.0
    """Length of each tracked trajectory (s)."""
    fps: int = 30
    """Recording rate of the tracked trajectories (frames per second)."""
    seed: int = 0
    """Seed of the random targets and trajectories."""
    pos_tol_mm: float = 0.1
    """Success threshold on the position error (mm)."""
    rot_tol_deg: float = 0.1
    """Success threshold on the orientation error (degrees)."""
    mink: bool = True
    """Also run mink on the same targets (needs ``pip install mink``)."""
    mink_max_iterations: int = 200
    """mink's iteration budget per cold solve (tracking: a tenth of it)."""

    def __post_init__(self) -> None:
        if self.targets < 1 or self.trajectories < 1:
            raise ValueError(
                f"--targets and --trajectories must be at least 1, got {self.targets} and {self.trajectories}"
            )
        if self.trajectory_seconds <= 0 or self.fps <= 0:
            raise ValueError(
                f"--trajectory_seconds and --fps must be positive, got {self.trajectory_seconds} and {self.fps}"
            )
        if self.pos_tol_mm <= 0 or self.rot_tol_deg <= 0 or self.mink_max_iterations < 1:
            raise ValueError("--pos_tol_mm, --rot_tol_deg and --mink_max_iterations must be positive")


@dataclass(frozen=True)
class Workload:
    """Targets in the base frame, the joint vectors they came from, and where each solve starts."""

    name: str
    positions: np.ndarray
    """(N, 3) m."""
    quats: np.ndarray
    """(N, 4) ``[w, x, y, z]``."""
    joints: np.ndarray
    """(N, 6) rad: the joint vectors whose FK gave the targets."""
    warm: bool
    """Each solve starts from the previous one's solution (tracking); the first of each run from ``joints``."""
    run_starts: np.ndarray
    """Indices where a new trajectory begins (warm workloads)."""


@dataclass(frozen=True)
class Figures:
    """Outcome of one solver on one workload."""

    solver: str
    success: float
    pos_err_mm: np.ndarray
    rot_err_deg: np.ndarray
    time_us: np.ndarray


def bench(cfg: IkBenchConfig) -> int:
    """Solve both workloads with each solver; print the figures, the targets and the machine. 0 when it ran."""
    from so101.sim.machine import machine_line

    model_path = _resolve_model(cfg.model)
    model = mujoco.MjModel.from_xml_path(str(model_path))
    rng = np.random.default_rng(cfg.seed)
    limits = JointLimits.from_model(model)
    fk = ForwardKinematics(model)
    workloads = [
        cold_workload(fk, limits, cfg.targets, rng),
        tracking_workload(fk, limits, cfg.trajectories, cfg.trajectory_seconds, cfg.fps, rng),
    ]
    solvers: list[tuple[str, Solver]] = [("so101 DLS", dls_solver(model))]
    if cfg.mink:
        solvers.append(("mink", mink_solver(model, cfg)))

    print(f"so101 bench ik   model: {model_path}   seed: {cfg.seed}")
    print(f"success = full pose within {cfg.pos_tol_mm} mm and {cfg.rot_tol_deg} deg; errors p50 / p99 / max")
    header = (
        f"{'workload':<28}{'solver':<11}{'success':>9}  {'position (mm)':<29}{'orientation (deg)':<29}"
        f"{'time/solve (us) p50 / mean':>27}"
    )
    print(header)
    print("-" * len(header))
    ours: list[Figures] = []
    for workload in workloads:
        for name, solver in solvers:
            figures = run(workload, name, solver, fk, cfg.pos_tol_mm, cfg.rot_tol_deg)
            print(_row(workload.name, figures))
            if solver is solvers[0][1]:
                ours.append(figures)
    success = min(figures.success for figures in ours)
    tracking_us = float(np.median(ours[1].time_us))
    success_verdict = "meets" if success >= TARGET_SUCCESS else "below"
    time_verdict = "meets" if tracking_us <= TARGET_TRACKING_US else "below"
    print(
        f"targets (so101 DLS): success >= {100 * TARGET_SUCCESS:.1f}% in each workload: {success_verdict} "
        f"({100 * success:.2f}%); tracking p50 <= {TARGET_TRACKING_US:.0f} us: {time_verdict} ({tracking_us:.0f} us)"
    )
    print(machine_line(gl=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 bench ik``; returns the process exit status."""
    return run_command("bench ik", IkBenchConfig, bench, argv)


def cold_workload(fk: ForwardKinematics, limits: JointLimits, count: int, rng: np.random.Generator) -> Workload:
    """``count`` poses of uniformly random joint vectors within the limits, each to be solved cold."""
    joints = np.zeros((count, 6))
    joints[:, :N_BODY] = rng.uniform(limits.lower[:N_BODY], limits.upper[:N_BODY], size=(count, N_BODY))
    positions, quats = fk.batch(joints)
    return Workload(f"cold ({count} targets)", positions, quats, joints, warm=False, run_starts=np.zeros(0, int))


def tracking_workload(
    fk: ForwardKinematics, limits: JointLimits, count: int, seconds: float, fps: int, rng: np.random.Generator
) -> Workload:
    """``count`` smooth trajectories: minimum-jerk moves of 0.8..2.5 s between random waypoints (10 % inside
    the limits), sampled at ``fps``, like teleoperated recordings."""
    runs = []
    lower, upper = limits.lower[:N_BODY], limits.upper[:N_BODY]
    margin = 0.1 * (upper - lower)
    frames = max(round(seconds * fps), 2)
    for _ in range(count):
        waypoint = rng.uniform(lower + margin, upper - margin)
        run: list[np.ndarray] = []
        while len(run) < frames:
            target = rng.uniform(lower + margin, upper - margin)
            steps = max(int(rng.uniform(0.8, 2.5) * fps), 2)
            s = np.arange(1, steps + 1) / steps
            blend = 10 * s**3 - 15 * s**4 + 6 * s**5
            run.extend(waypoint + blend[:, None] * (target - waypoint))
            waypoint = target
        joints = np.zeros((frames, 6))
        joints[:, :N_BODY] = np.asarray(run[:frames])
        runs.append(joints)
    joints = np.concatenate(runs)
    positions, quats = fk.batch(joints)
    starts = np.arange(count) * frames
    return Workload(f"tracking ({count}x{frames} frames)", positions, quats, joints, warm=True, run_starts=starts)


def run(
    workload: Workload, name: str, solver: Solver, fk: ForwardKinematics, pos_tol_mm: float, rot_tol_deg: float
) -> Figures:
    """Solve every target of ``workload``, timing each solve, and measure the reached poses with FK."""
    count = len(workload.positions)
    solutions = np.empty((count, 6))
    times = np.empty(count)
    starts = set(workload.run_starts.tolist())
    previous: np.ndarray | None = None
    for i in range(count):
        q_init = (workload.joints[i] if i in starts else previous) if workload.warm else None
        begin = time.perf_counter()
        solutions[i] = solver(workload.positions[i], workload.quats[i], q_init)
        times[i] = time.perf_counter() - begin
        previous = solutions[i]
    reached_pos, reached_quat = fk.batch(solutions)
    pos_err = 1e3 * np.linalg.norm(reached_pos - workload.positions, axis=1)
    rot_err = np.rad2deg(quat_angle(reached_quat, workload.quats))
    success = float(np.mean((pos_err <= pos_tol_mm) & (rot_err <= rot_tol_deg)))
    return Figures(name, success, pos_err, rot_err, 1e6 * times)


def dls_solver(model: mujoco.MjModel) -> Solver:
    """The workbench's solver with its default configuration."""
    solver = IKSolver(model, IKConfig())

    def solve(pos: np.ndarray, quat: np.ndarray, q_init: np.ndarray | None) -> np.ndarray:
        return solver.solve(pos, quat, q_init)[0]

    return solve


def mink_solver(model: mujoco.MjModel, cfg: IkBenchConfig) -> Solver:
    """mink's differential IK iterated to the benchmark's thresholds, with the same weights and cold start.

    Each iteration is one ``mink.solve_ik`` step (a QP with configuration limits, Levenberg-Marquardt
    damping as in mink's examples) integrated over ``dt = 1``; warm solves get a tenth of the budget.
    """
    try:
        import mink
    except ImportError as error:
        raise DependencyError(
            "mink", "not installed", "1.3.0", "the IK benchmark's comparison", alternative="run with --mink false"
        ) from error

    ik_cfg = IKConfig()
    fk = ForwardKinematics(model)
    index = fk.index
    mujoco.mj_kinematics(model, fk.data)
    base = Pose(fk.data.xpos[index.base_body_id].copy(), fk.data.xquat[index.base_body_id].copy())
    configuration = mink.Configuration(model)
    task = mink.FrameTask(
        frame_name=ik_cfg.site,
        frame_type="site",
        position_cost=ik_cfg.position_weight,
        orientation_cost=ik_cfg.orientation_weight,
        lm_damping=1.0,
    )
    limits = [mink.ConfigurationLimit(model)]
    pos_tol, rot_tol = cfg.pos_tol_mm * 1e-3, np.deg2rad(cfg.rot_tol_deg)
    cold_start = np.asarray(ik_cfg.cold_start)
    qpos = model.qpos0.copy()

    def solve(pos: np.ndarray, quat: np.ndarray, q_init: np.ndarray | None) -> np.ndarray:
        start = cold_start if q_init is None else q_init
        budget = cfg.mink_max_iterations if q_init is None else max(cfg.mink_max_iterations // 10, 1)
        qpos[index.qpos_adr] = start
        configuration.update(qpos)
        world_pos, world_quat = base.compose(Pose(pos, quat))
        task.set_target(mink.SE3.from_rotation_and_translation(mink.SO3(world_quat), world_pos))
        data = configuration.data
        for _ in range(budget):
            pos_err = np.linalg.norm(data.site_xpos[index.site_id] - world_pos)
            site_quat = matrix_to_quat(data.site_xmat[index.site_id].reshape(3, 3))
            if pos_err <= pos_tol and quat_angle(site_quat, world_quat) <= rot_tol:
                break
            velocity = mink.solve_ik(configuration, [task], 1.0, "daqp", limits=limits)
            configuration.integrate_inplace(velocity, 1.0)
        return configuration.q[index.qpos_adr].copy()

    return solve


def _resolve_model(path: str | None) -> Path:
    if path is not None:
        model_path = Path(path)
    else:
        from so101.sim.paths import ROBOT_XML

        model_path = ROBOT_XML
    if not model_path.is_file():
        raise ConfigError("model", model_path, "must be the path of an SO-101 MJCF file (no SO-101 model there)")
    return model_path


def _percentiles(values: np.ndarray, digits: int) -> str:
    p50, p99 = np.percentile(values, [50, 99])
    return f"{p50:.{digits}f} / {p99:.{digits}f} / {values.max():.{digits}f}"


def _row(workload: str, figures: Figures) -> str:
    times = f"{np.median(figures.time_us):.0f} / {figures.time_us.mean():.0f}"
    return (
        f"{workload:<28}{figures.solver:<11}{100 * figures.success:>8.2f}%  "
        f"{_percentiles(figures.pos_err_mm, 4):<29}{_percentiles(figures.rot_err_deg, 4):<29}{times:>27}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
