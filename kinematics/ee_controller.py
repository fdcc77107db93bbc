"""The one end-effector controller: a latched reference pose plus a pose change becomes bounded joint targets.

Keyboard teleop uses it now; VR teleop, end-effector policies in the sim and end-effector deployment build on it.

Frames and units: poses are those of the TCP (the ``gripperframe`` site) in the robot's ``base`` frame, positions in
metres, orientations as quaternions ``[w, x, y, z]``; rotations may also be given as rotation vectors (rad). Joint
targets in and out are in dataset units (degrees, gripper 0..100, LeRobot order; see ``so101.kinematics.units``).

How it works: ``latch(joint_targets)`` takes the joint targets commanded now and latches the TCP pose they give
(the reference). ``move(translation, rotation, tool_rotation)`` asks for the reference changed by a pose change,
``move_to(position, quat)`` for an absolute pose; either solves the IK warm from the targets commanded last, moves
no body joint by more than ``max_joint_step_deg`` per call (a far target is approached over several control steps)
and keeps the joints within their limits. A target the IK cannot put the TCP on (out of reach, or the solve
stalled) is reported (``EEResult.ok`` False, ``failures`` counts them) and the last good targets are held. The
orientation is best effort, as a 5-joint arm cannot take every orientation at every position: the position is
reached first and the orientation as nearly as the arm allows.

Keyboard jogging and a VR clutch map onto the same calls::

    controller.latch(sim.commanded_targets())                # jog keys pressed / clutch squeezed: no motion
    controller.move(translation=held_dir * speed * t_held)      # keyboard: offset accumulated since the latch
    controller.move(translation=hand_pos - hand_pos_at_latch,   # VR: the hand's motion since the clutch, base frame
                    rotation=quat_multiply(hand_quat, quat_conjugate(hand_quat_at_latch)))

Re-latching never moves the arm: the reference is the pose of the joints commanded now.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from so101.errors import ConfigError
from so101.kinematics.fk import ForwardKinematics
from so101.kinematics.ik import IKConfig, IKSolver, IKStatus
from so101.kinematics.ik_trajectory import bound_joint_step
from so101.kinematics.pose import IDENTITY_QUAT, Pose, quat_from_rotvec, quat_multiply, quat_normalize
from so101.kinematics.units import GRIPPER_INDEX, JointLimits, dataset_to_radians, radians_to_dataset

_NOT_LATCHED = "latch the joint targets commanded now before moving the end effector"


@dataclass
class EEControllerConfig:
    """Settings of ``EndEffectorController``."""

    max_joint_step_deg: float = 6.0
    """Largest change of any body joint target per call, i.e. per control step (degrees; 6 at 30 fps is 180 deg/s)."""
    position_tolerance: float = 0.001
    """The IK must put the TCP within this distance of the target (m); farther, the step fails and targets hold."""
    orientation_weight: float = 0.01
    """Weight of the orientation error in the IK (m/rad): 1 rad counts like 1 cm, so the position comes first and an
    orientation the arm cannot take costs the position a fraction of a millimetre instead of centimetres."""
    restarts: int = 0
    """IK restarts from other IK branches when the warm solve stalls; 0 keeps the arm in its branch, so that it
    never swings through to another while a person drives it."""

    def __post_init__(self) -> None:
        if self.max_joint_step_deg <= 0:
            raise ConfigError("max_joint_step_deg", self.max_joint_step_deg, "must be positive")
        if self.position_tolerance <= 0:
            raise ConfigError("position_tolerance", self.position_tolerance, "must be positive")
        if self.orientation_weight < 0 or self.restarts < 0:
            raise ValueError(
                f"--orientation_weight and --restarts must not be negative, got {self.orientation_weight}, "
                f"{self.restarts}"
            )


@dataclass(frozen=True)
class EEResult:
    """Outcome of one controller step."""

    ok: bool
    """The IK put the TCP within ``position_tolerance`` of the target and the targets moved towards it. False: the
    target is out of reach (or the solve stalled) and ``targets`` are the last good ones, unchanged."""
    targets: np.ndarray
    """(6,) joint targets to command now, dataset units."""
    position_error: float
    """Distance (m) from the target to the TCP at the IK's solution, where the arm is once the step bound lets it."""
    orientation_error: float
    """Angle (rad) between the target orientation and the solution's: what the 5-joint arm could not take."""
    ik_status: IKStatus
    """Status of the IK solve (``converged``, ``unreachable``, ``max_iterations``)."""
    step_limited: bool
    """The joint-step bound held the arm back: it goes on towards the target in the following steps."""


class EndEffectorController:
    """Latched reference pose + pose change -> joint targets through a warm, step-bounded IK.

    Args:
        model: a MuJoCo model containing an SO-101 (the arm alone or a whole scene); the controller keeps its own
            ``MjData``, so it never disturbs a running simulation.
        config: step bound, tolerance and IK settings.
    """

    def __init__(self, model: mujoco.MjModel, config: EEControllerConfig | None = None) -> None:
        self.config = config or EEControllerConfig()
        cfg = self.config
        self.limits = JointLimits.from_model(model)
        self._fk = ForwardKinematics(model)
        # Warm solves only: the seed table is needed for restarts alone.
        self._ik = IKSolver(
            model,
            IKConfig(
                orientation_weight=cfg.orientation_weight,
                restarts=cfg.restarts,
                restart_warm=cfg.restarts > 0,
                seed_table_size=IKConfig.seed_table_size if cfg.restarts else 0,
            ),
        )
        # When the orientation cannot be taken, the weighted solve trades some position for it; this one then puts
        # the position back from there, keeping the orientation as near as the arm allows.
        self._ik_position = IKSolver(model, IKConfig(orientation_weight=0.0, restarts=0, seed_table_size=0))
        self.failures = 0
        """Steps that failed (target out of reach or solve stalled) since construction."""
        self._reference: Pose | None = None
        self._targets = np.zeros(6)
        self._q = np.zeros(6)

    @property
    def reference(self) -> Pose:
        """The latched TCP pose (base frame, m and ``[w, x, y, z]``); ``RuntimeError`` before the first latch."""
        if self._reference is None:
            raise RuntimeError(_NOT_LATCHED)
        return self._reference

    @property
    def targets(self) -> np.ndarray:
        """The joint targets commanded last (6,), dataset units: those latched, or the last good step's."""
        return self._targets.copy()

    def latch(self, joint_targets: np.ndarray) -> Pose:
        """Take ``joint_targets`` (6,) (dataset units, the targets commanded now) as the current targets and latch
        the TCP pose they give as the reference; returns that pose. The arm does not move."""
        targets = np.array(joint_targets, dtype=np.float64)
        if targets.shape != (6,) or not np.isfinite(targets).all():
            raise ValueError(f"joint targets need 6 finite values in dataset units, got {joint_targets!r}")
        self._targets = targets
        self._q = dataset_to_radians(targets, self.limits)
        self._reference = self._fk.pose(self._q)
        return self._reference

    def move(
        self,
        translation: np.ndarray | None = None,
        rotation: np.ndarray | None = None,
        tool_rotation: np.ndarray | None = None,
        gripper: float | None = None,
    ) -> EEResult:
        """Step towards the reference pose changed by a pose change (all parts optional, none is no change).

        Args:
            translation: (3,) m in the base frame, added to the reference position.
            rotation: rotation in the base frame, applied after the reference orientation (``rotation * ref``): a
                (3,) rotation vector (rad) or a (4,) quaternion. A VR hand's turn since the clutch.
            tool_rotation: rotation in the tool frame (the TCP's own axes), applied before it (``ref * tool``);
                e.g. a roll about the TCP's x axis, out of the fingers.
            gripper: gripper target (dataset units, 0..100); None keeps the current one.
        """
        reference = self.reference
        position = reference.position + (np.zeros(3) if translation is None else _vector(translation))
        quat = quat_multiply(quat_multiply(_rotation(rotation), reference.quat), _rotation(tool_rotation))
        return self.move_to(position, quat, gripper)

    def move_to(self, position: np.ndarray, quat: np.ndarray, gripper: float | None = None) -> EEResult:
        """Step towards an absolute TCP pose: ``position`` (3,) m and ``quat`` (4,) ``[w, x, y, z]``, base frame;
        ``gripper`` in dataset units (None keeps the current one)."""
        if self._reference is None:
            raise RuntimeError(_NOT_LATCHED)
        position, quat = _vector(position), quat_normalize(quat)
        q_now = self._q
        q, result = self._ik.solve(position, quat, q_now)
        position_error, orientation_error, status = result.position_error, result.orientation_error, result.status
        if not result.converged and position_error > self.config.position_tolerance:
            q_position, exact = self._ik_position.solve(position, quat, q)
            if exact.position_error < position_error:
                q, position_error, status = q_position, exact.position_error, exact.status
                orientation_error = exact.orientation_error
        ok = position_error <= self.config.position_tolerance
        limited = False
        if ok:
            limited = bound_joint_step(q_now, q, np.deg2rad(self.config.max_joint_step_deg))
            # Adding the change keeps the targets bit-exact when nothing moves (a latch followed by no change).
            change = radians_to_dataset(q, self.limits) - radians_to_dataset(q_now, self.limits)
            self._targets = self._targets + change
            self._q = q
        else:
            self.failures += 1
        if gripper is not None:
            self._targets[GRIPPER_INDEX] = float(gripper)
            self._q[GRIPPER_INDEX] = dataset_to_radians(self._targets, self.limits)[GRIPPER_INDEX]
        return EEResult(ok, self._targets.copy(), position_error, orientation_error, status, limited)


def _vector(values: np.ndarray) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float64)
    if vector.shape != (3,) or not np.isfinite(vector).all():
        raise ValueError(f"a position or translation needs 3 finite values (m), got {values!r}")
    return vector


def _rotation(rotation: np.ndarray | None) -> np.ndarray:
    """A rotation given as a (3,) rotation vector (rad) or a (4,) quaternion, as a unit quaternion."""
    if rotation is None:
        return IDENTITY_QUAT
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape == (3,):
        return quat_from_rotvec(rotation)
    if rotation.shape == (4,):
        return quat_normalize(rotation)
    raise ValueError(f"a rotation is a (3,) rotation vector or a (4,) quaternion, got shape {rotation.shape}")
