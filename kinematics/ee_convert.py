"""Joint vectors -> end-effector features, and the check that proves it: the IK solves every pose back.

``JointsToEE`` turns an episode of joint vectors (dataset units, either unit convention) into the features of an
``EELayout`` through the vectorised FK (``so101.kinematics.batch_fk``). ``EEVerifier`` decodes the features as stored
(float32, the dataset's dtype), solves them back through the IK in trajectory mode, warm-started frame by frame
from the arm's joints at the episode's start, and compares: position and orientation errors of the IK's pose, and
the joint error between the IK's joints and the original ones. ``VerificationReport`` gathers the errors of a whole
dataset in fixed log-spaced histograms (memory does not grow with the dataset) and lists the frames that failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from so101.kinematics.batch_fk import ChainFK
from so101.kinematics.ee_features import EELayout
from so101.kinematics.ik import N_BODY, IKConfig, IKSolver
from so101.kinematics.ik_trajectory import solve_trajectory
from so101.kinematics.units import GRIPPER_INDEX, JointLimits, Normalization, dataset_to_radians


class JointsToEE:
    """Episodes of joint vectors (T, 6) in dataset units -> (T, ``layout.dim``) end-effector features."""

    def __init__(self, model: mujoco.MjModel, layout: EELayout, units: Normalization = "degrees") -> None:
        self.layout, self.units = layout, units
        self.limits = JointLimits.from_model(model)
        self.fk = ChainFK(model, site=layout.tcp)

    def radians(self, joints: np.ndarray) -> np.ndarray:
        return dataset_to_radians(joints, self.limits, self.units)

    def convert(self, joints: np.ndarray) -> np.ndarray:
        """Features of one episode; the gripper keeps its dataset value (0..100 in both conventions)."""
        joints = np.asarray(joints, dtype=np.float64)
        pose = self.fk.batch(self.radians(joints))
        return self.layout.encode(pose.position, pose.quat, joints[:, GRIPPER_INDEX])


@dataclass
class EpisodeErrors:
    """Per-frame outcome of solving one episode's EE features back through the IK."""

    position: np.ndarray
    """(T,) m between the decoded target and the IK's pose."""
    orientation: np.ndarray
    """(T,) rad between the decoded target and the IK's pose."""
    joints: np.ndarray
    """(T,) largest body-joint difference (degrees) between the IK's joints and the original ones."""
    failed: np.ndarray
    """(T,) bool: the IK did not converge on the frame's pose."""


class EEVerifier:
    """Solves stored EE features back to joints and measures how far they land from the original joints."""

    def __init__(self, model: mujoco.MjModel, layout: EELayout, units: Normalization = "degrees") -> None:
        self.layout, self.units = layout, units
        self.limits = JointLimits.from_model(model)
        # Trajectory mode from a warm start: restarts would only hide a frame that left its branch.
        self.solver = IKSolver(model, IKConfig(site=layout.tcp, restarts=0, restart_warm=False, seed_table_size=0))

    def verify(self, features: np.ndarray, joints: np.ndarray, start: np.ndarray) -> EpisodeErrors:
        """Check one episode.

        Args:
            features: (T, dim) EE features as stored (float32 is fine: the check includes the rounding).
            joints: (T, 6) the original joints they came from, dataset units.
            start: (6,) the arm's joints at the episode's start (its first ``observation.state``), dataset units:
                the warm start of the first frame.
        """
        position, quat, _gripper = self.layout.decode(np.asarray(features, dtype=np.float64))
        original = dataset_to_radians(joints, self.limits, self.units)
        q_start = dataset_to_radians(start, self.limits, self.units)
        # The bound never holds back a step the recording itself took: this checks the poses, not the smoothing.
        steps = np.abs(np.diff(np.vstack([q_start, original])[:, :N_BODY], axis=0))
        bound = max(self.solver.config.max_joint_step, 1.5 * float(steps.max(initial=0.0)))
        qs, results = solve_trajectory(
            self.solver, position, quat, q_init=q_start, max_joint_step=bound, extrapolate=True
        )
        return EpisodeErrors(
            position=np.array([r.position_error for r in results]),
            orientation=np.array([r.orientation_error for r in results]),
            joints=np.rad2deg(np.max(np.abs(qs[:, :N_BODY] - original[:, :N_BODY]), axis=1)),
            failed=np.array([not r.converged for r in results], dtype=bool),
        )


_HIST_EDGES = np.logspace(-12, 3, 1501)
"""Log-spaced bins from 1e-12 to 1e3 (1 % wide): percentiles to within 1 % of their value, in constant memory."""


@dataclass
class _Histogram:
    counts: np.ndarray = field(default_factory=lambda: np.zeros(len(_HIST_EDGES) + 1, dtype=np.int64))
    maximum: float = 0.0

    def add(self, values: np.ndarray) -> None:
        if len(values):
            self.counts += np.bincount(np.searchsorted(_HIST_EDGES, values), minlength=len(self.counts))
            self.maximum = max(self.maximum, float(np.max(values)))

    def percentile(self, q: float) -> float:
        total = int(self.counts.sum())
        if total == 0:
            return math.nan
        index = int(np.searchsorted(np.cumsum(self.counts), math.ceil(q / 100.0 * total)))
        # The upper edge of the bin holding the percentile: never an underestimate.
        return min(float(_HIST_EDGES[min(index, len(_HIST_EDGES) - 1)]), self.maximum)


MAX_LISTED_FAILURES = 1000
"""Failing frames listed by (episode, frame) in the report; more are counted."""


@dataclass
class VerificationReport:
    """Errors of a whole converted dataset: percentiles, IK failures and where they happened."""

    frames: int = 0
    episodes: int = 0
    failures: int = 0
    failed_frames: list[tuple[int, int]] = field(default_factory=list)
    """(episode_index, frame_index) of failing frames, the first ``MAX_LISTED_FAILURES``."""
    _position: _Histogram = field(default_factory=_Histogram)
    _orientation: _Histogram = field(default_factory=_Histogram)
    _joints: _Histogram = field(default_factory=_Histogram)

    def add(self, episode_index: int, errors: EpisodeErrors) -> None:
        self.episodes += 1
        self.frames += len(errors.position)
        self._position.add(errors.position)
        self._orientation.add(errors.orientation)
        self._joints.add(errors.joints)
        failed = np.flatnonzero(errors.failed)
        self.failures += len(failed)
        room = MAX_LISTED_FAILURES - len(self.failed_frames)
        self.failed_frames += [(episode_index, int(frame)) for frame in failed[: max(room, 0)]]

    def to_json(self) -> dict[str, Any]:
        def summary(histogram: _Histogram, scale: float) -> dict[str, float]:
            return {
                **{f"p{q}": histogram.percentile(q) * scale for q in (50, 95, 99)},
                "max": histogram.maximum * scale,
            }

        return {
            "frames": self.frames,
            "episodes": self.episodes,
            "ik_failures": self.failures,
            "failed_frames": [{"episode_index": e, "frame_index": f} for e, f in self.failed_frames],
            "position_error_mm": summary(self._position, 1e3),
            "orientation_error_deg": summary(self._orientation, math.degrees(1.0)),
            "joint_error_deg": summary(self._joints, 1.0),
            "method": (
                "each frame's stored EE action decoded and solved back through the IK in trajectory mode, "
                "warm-started from the episode's first observation.state; errors against the original joints"
            ),
        }

    def lines(self) -> list[str]:
        """The report as printed."""
        data = self.to_json()

        def row(key: str, unit: str) -> str:
            values = data[key]
            figures = " / ".join(f"{values[k]:.3g}" for k in ("p50", "p95", "p99", "max"))
            return f"  {key.rsplit('_', 1)[0].replace('_', ' '):<18} p50 / p95 / p99 / max  {figures} {unit}"

        where = ", ".join(f"ep {e} frame {f}" for e, f in self.failed_frames[:10])
        more = f" (first: {where}{', ...' if self.failures > 10 else ''})" if self.failures else ""
        return [
            f"verification: {self.frames} frames of {self.episodes} episodes solved back through the IK",
            row("position_error_mm", "mm"),
            row("orientation_error_deg", "deg"),
            row("joint_error_deg", "deg"),
            f"  IK failures        {self.failures} of {self.frames} frames{more}",
        ]
