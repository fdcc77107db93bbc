"""Dataset units <-> simulator radians: the one place where this conversion lives.

Dataset units are those of LeRobot's SO-101 follower (``so101_new_calib``):

* body joints (``shoulder_pan`` .. ``wrist_roll``) in degrees, zero at the middle of the calibrated
  range, which is also the zero of the simulator's joints, so degrees map to radians directly;
* the gripper in percent, 0 = the closed end of its range, 100 = the open end.

The older ``range_m100_100`` normalisation (LeRobot < 0.2 datasets) maps every body joint's full range
linearly onto -100..100; its gripper is 0..100 as above.

Arrays may have any leading shape; the last axis holds the six joints in ``JOINT_NAMES`` order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "shoulder_pan",
    "shoulder_lift",
    "elbow_flex",
    "wrist_flex",
    "wrist_roll",
    "gripper",
)
"""LeRobot's joint order; every joint vector in the workbench uses it."""

JOINT_FEATURE_NAMES: tuple[str, ...] = tuple(f"{name}.pos" for name in JOINT_NAMES)
"""Feature names of ``observation.state`` and ``action`` in joint-space datasets."""

GRIPPER_INDEX = JOINT_NAMES.index("gripper")

Normalization = Literal["degrees", "range_m100_100"]


@dataclass(frozen=True)
class JointLimits:
    """Joint ranges in radians, shape (6,) each, in ``JOINT_NAMES`` order."""

    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self) -> None:
        lower = np.asarray(self.lower, dtype=np.float64)
        upper = np.asarray(self.upper, dtype=np.float64)
        if lower.shape != (6,) or upper.shape != (6,):
            raise ValueError(f"joint limits need shape (6,), got {lower.shape} and {upper.shape}")
        if np.any(upper <= lower):
            raise ValueError(f"every upper joint limit must exceed its lower one: {lower} .. {upper}")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)

    @classmethod
    def from_model(cls, model: object) -> JointLimits:
        """Read the six joint ranges (rad) from a MuJoCo ``MjModel`` with LeRobot's joint names."""
        import mujoco

        lower, upper = np.empty(6), np.empty(6)
        for i, name in enumerate(JOINT_NAMES):
            joint_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
            if joint_id < 0:
                raise ValueError(
                    f"the model has no joint named {name!r}; an SO-101 model needs the joints {JOINT_NAMES}"
                )
            lower[i], upper[i] = model.jnt_range[joint_id]
        return cls(lower, upper)


def dataset_to_radians(values: np.ndarray, limits: JointLimits, norm: Normalization = "degrees") -> np.ndarray:
    """Convert joint vectors from dataset units to simulator radians.

    Args:
        values: (..., 6) joint values in dataset units.
        limits: the model's joint ranges (rad).
        norm: ``"degrees"`` (LeRobot's current SO-101 units) or ``"range_m100_100"``.

    Returns:
        (..., 6) float64 joint angles in radians; the gripper maps 0..100 onto its range lower..upper.
    """
    values = _as_joint_array(values)
    out = np.empty_like(values)
    body = slice(0, GRIPPER_INDEX)
    if norm == "degrees":
        out[..., body] = np.deg2rad(values[..., body])
    elif norm == "range_m100_100":
        lo, hi = limits.lower[body], limits.upper[body]
        out[..., body] = lo + (values[..., body] + 100.0) / 200.0 * (hi - lo)
    else:
        raise ValueError(f"unknown normalisation {norm!r}; use 'degrees' or 'range_m100_100'")
    lo, hi = limits.lower[GRIPPER_INDEX], limits.upper[GRIPPER_INDEX]
    out[..., GRIPPER_INDEX] = lo + values[..., GRIPPER_INDEX] / 100.0 * (hi - lo)
    return out


def radians_to_dataset(radians: np.ndarray, limits: JointLimits, norm: Normalization = "degrees") -> np.ndarray:
    """Convert joint vectors from simulator radians to dataset units; the inverse of ``dataset_to_radians``."""
    radians = _as_joint_array(radians)
    out = np.empty_like(radians)
    body = slice(0, GRIPPER_INDEX)
    if norm == "degrees":
        out[..., body] = np.rad2deg(radians[..., body])
    elif norm == "range_m100_100":
        lo, hi = limits.lower[body], limits.upper[body]
        out[..., body] = (radians[..., body] - lo) / (hi - lo) * 200.0 - 100.0
    else:
        raise ValueError(f"unknown normalisation {norm!r}; use 'degrees' or 'range_m100_100'")
    lo, hi = limits.lower[GRIPPER_INDEX], limits.upper[GRIPPER_INDEX]
    out[..., GRIPPER_INDEX] = (radians[..., GRIPPER_INDEX] - lo) / (hi - lo) * 100.0
    return out


def _as_joint_array(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape[-1:] != (6,):
        raise ValueError(
            f"joint vectors need 6 values in the order {JOINT_NAMES}, got an array of shape {array.shape}"
        )
    return array
