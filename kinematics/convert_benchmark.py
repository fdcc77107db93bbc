"""``so101 bench convert``: frames per second of the joint -> end-effector kinematics, without any file work.

Two figures, each the median of ``--repeats`` passes over the same episodes:

* FK: ``so101.kinematics.ee_convert.JointsToEE`` (vectorised FK of each episode, rotation encoding, float32 rounding);
* FK + verification: the same, then ``EEVerifier`` solving every frame back through the IK (trajectory mode, warm
  starts) and comparing with the joints, as ``so101 convert-ee`` does.

The episodes are a dataset's actions (``--dataset_root``) or, by default, smooth recorded-like trajectories
(minimum-jerk moves between random waypoints at 30 fps, as ``so101 bench ik`` tracks).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from so101.command import run_command
from so101.errors import ConfigError
from so101.kinematics.ee_features import RotationEncoding

TARGET_FK_FPS = 20_000.0
TARGET_VERIFY_FPS = 5_000.0


@dataclass
class ConvertBenchConfig:
    """Options of ``so101 bench convert``."""

    dataset_root: Path | None = None
    """A joint-space dataset (degrees) whose actions are the episodes; default: synthetic recorded-like ones."""
    trajectories: int = 20
    """Synthetic episodes (without ``--dataset_root``)."""
    trajectory_seconds: float = 10.0
    """Length of each synthetic episode (s, at 30 fps)."""
    rotation: RotationEncoding = "rotvec"
    """Rotation encoding converted to."""
    repeats: int = 3
    """Passes over the episodes; the median pass is reported."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.trajectories < 1 or self.trajectory_seconds <= 0 or self.repeats < 1:
            raise ValueError(
                "--trajectories, --trajectory_seconds and --repeats must be positive, got "
                f"{self.trajectories}, {self.trajectory_seconds}, {self.repeats}"
            )


def episodes_of(cfg: ConvertBenchConfig, model: object) -> list[np.ndarray]:
    """The benchmark's episodes: (T, 6) joint vectors in degrees."""
    if cfg.dataset_root is not None:
        import pandas as pd

        files = sorted(Path(cfg.dataset_root).glob("data/chunk-*/file-*.parquet"))
        if not files:
            rule = "must be a dataset (no data/chunk-*/file-*.parquet there)"
            raise ConfigError("dataset_root", cfg.dataset_root, rule)
        frame = pd.concat([pd.read_parquet(p, columns=["episode_index", "action"]) for p in files])
        return [np.stack(rows["action"].to_numpy()).astype(np.float64) for _, rows in frame.groupby("episode_index")]
    from so101.kinematics.benchmark import tracking_workload
    from so101.kinematics.fk import ForwardKinematics
    from so101.kinematics.units import JointLimits, radians_to_dataset

    limits = JointLimits.from_model(model)
    workload = tracking_workload(
        ForwardKinematics(model), limits, cfg.trajectories, cfg.trajectory_seconds, 30, np.random.default_rng(cfg.seed)
    )
    joints = radians_to_dataset(workload.joints, limits)
    joints[:, 5] = 50.0
    return np.split(joints, workload.run_starts[1:])


def bench(cfg: ConvertBenchConfig) -> int:
    import mujoco

    from so101.kinematics.ee_convert import EEVerifier, JointsToEE, VerificationReport
    from so101.kinematics.ee_features import EELayout
    from so101.sim.machine import machine_line
    from so101.sim.paths import ROBOT_XML

    model = mujoco.MjModel.from_xml_path(str(ROBOT_XML))
    layout = EELayout(cfg.rotation)
    converter, verifier = JointsToEE(model, layout), EEVerifier(model, layout)
    episodes = episodes_of(cfg, model)
    frames = sum(len(e) for e in episodes)

    def fk_pass() -> None:
        for joints in episodes:
            converter.convert(joints).astype(np.float32)

    report = VerificationReport()

    def verify_pass() -> None:
        for index, joints in enumerate(episodes):
            report.add(index, verifier.verify(converter.convert(joints).astype(np.float32), joints, joints[0]))

    fk_fps = _median_rate(fk_pass, frames, cfg.repeats)
    verify_fps = _median_rate(verify_pass, frames, cfg.repeats)
    source = str(cfg.dataset_root) if cfg.dataset_root else f"{len(episodes)} synthetic 30 fps episodes"
    print(f"bench convert: {frames} frames ({source}), {cfg.rotation}, median of {cfg.repeats} passes")
    print(_figure("FK", fk_fps, TARGET_FK_FPS))
    print(_figure("FK + verification", verify_fps, TARGET_VERIFY_FPS))
    summary = report.to_json()
    print(
        f"  verification: {summary['ik_failures'] // cfg.repeats} IK failures per pass; position error p99 "
        f"{summary['position_error_mm']['p99']:.3g} mm, joint error p99 {summary['joint_error_deg']['p99']:.3g} deg"
    )
    print(machine_line(gl=False))
    return 0


def _median_rate(work: object, frames: int, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()  # type: ignore[operator]
        rates.append(frames / (time.perf_counter() - start))
    return float(np.median(rates))


def _figure(name: str, fps: float, target: float) -> str:
    verdict = "meets" if fps >= target else "BELOW"
    return f"  {name:<18} {fps:>10,.0f} frames/s   (target >= {target:,.0f}: {verdict})"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 bench convert``."""
    return run_command("bench convert", ConvertBenchConfig, bench, argv)
