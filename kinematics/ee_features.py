"""End-effector feature layouts: how a TCP pose and the gripper become one flat feature vector, and back.

Frame and units: the TCP (default the ``gripperframe`` site) in the robot's ``base`` frame, positions in metres,
rotations as below, the gripper in its dataset unit (0 closed .. 100 open), untouched. Three encodings of the
rotation, each a ``RotationEncoding``:

============  ==========================================================================  =========
encoding      feature names                                                                dimension
============  ==========================================================================  =========
``rotvec``    ``ee.x, ee.y, ee.z, ee.wx, ee.wy, ee.wz, ee.gripper_pos`` (LeRobot's own)    7
``quat``      ``ee.x, ee.y, ee.z, ee.qw, ee.qx, ee.qy, ee.qz, ee.gripper_pos``             8
``6d``        ``ee.x, ee.y, ee.z, ee.r11, ee.r21, ee.r31, ee.r12, ee.r22, ee.r32, ee.gripper_pos``  10
============  ==========================================================================  =========

``rotvec`` is the layout of LeRobot's EE processors (``lerobot.robots.so_follower.robot_kinematic_processor``),
so their tools read it as it is. Every encoding is continuous along an episode: quaternions keep the sign nearest
their predecessor's, and rotation vectors take, of the equivalent ``(angle + 2 pi k) * axis``, the one nearest their
predecessor (their angle may then exceed pi, which every decoder, LeRobot's included, reads as the same
rotation); the 6D encoding (the first two columns of the rotation matrix) is continuous by construction. A wrist
roll through +-180 degrees therefore never makes a feature jump.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from so101.kinematics.fk import SITE_NAME
from so101.kinematics.pose import (
    make_quat_continuous,
    matrix_from_rot6d,
    matrix_to_quat,
    quat_from_rotvec,
    quat_normalize,
    quat_to_matrix,
    rot6d_from_matrix,
    rotvec_from_quat,
)

RotationEncoding = Literal["rotvec", "quat", "6d"]
ROTATION_ENCODINGS: tuple[str, ...] = get_args(RotationEncoding)

POSITION_NAMES: tuple[str, ...] = ("ee.x", "ee.y", "ee.z")
GRIPPER_NAME = "ee.gripper_pos"
ROTATION_NAMES: dict[str, tuple[str, ...]] = {
    "rotvec": ("ee.wx", "ee.wy", "ee.wz"),
    "quat": ("ee.qw", "ee.qx", "ee.qy", "ee.qz"),
    "6d": ("ee.r11", "ee.r21", "ee.r31", "ee.r12", "ee.r22", "ee.r32"),
}
"""Rotation feature names per encoding; ``ee.rIJ`` is row I, column J of the rotation matrix (1-based)."""


@dataclass(frozen=True)
class EELayout:
    """One end-effector feature layout: the rotation encoding and the TCP site it describes."""

    rotation: RotationEncoding = "rotvec"
    """How the orientation is stored: ``rotvec`` (LeRobot's), ``quat`` or ``6d``."""
    tcp: str = SITE_NAME
    """The MuJoCo site whose pose the features give (the tool centre point)."""

    def __post_init__(self) -> None:
        if self.rotation not in ROTATION_ENCODINGS:
            raise ValueError(f"--rotation must be one of {', '.join(ROTATION_ENCODINGS)}, got {self.rotation!r}")
        if not self.tcp:
            raise ValueError("--tcp must name a site of the robot model, e.g. gripperframe")

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names, in vector order."""
        return (*POSITION_NAMES, *ROTATION_NAMES[self.rotation], GRIPPER_NAME)

    @property
    def dim(self) -> int:
        return len(self.names)

    @property
    def gripper_index(self) -> int:
        return self.dim - 1

    def encode(self, position: np.ndarray, quat: np.ndarray, gripper: np.ndarray) -> np.ndarray:
        """Feature vectors of one episode (or any sequence) of TCP poses.

        Args:
            position: (T, 3) metres, base frame.
            quat: (T, 4) ``[w, x, y, z]``, base frame; signs need not be continuous.
            gripper: (T,) gripper in dataset units, passed through.

        Returns:
            (T, ``dim``) float64, continuous along the sequence (see the module docstring).
        """
        position = np.asarray(position, dtype=np.float64)
        quat = quat_normalize(quat)
        gripper = np.asarray(gripper, dtype=np.float64)
        if position.ndim != 2 or position.shape[1] != 3 or quat.shape != (len(position), 4):
            raise ValueError(f"poses need shapes (T, 3) and (T, 4), got {position.shape} and {quat.shape}")
        if gripper.shape != (len(position),):
            raise ValueError(f"the gripper needs shape ({len(position)},), got {gripper.shape}")
        if self.rotation == "rotvec":
            rotation = make_rotvec_continuous(rotvec_from_quat(quat))
        elif self.rotation == "quat":
            rotation = make_quat_continuous(quat)
        else:
            rotation = rot6d_from_matrix(quat_to_matrix(quat))
        return np.concatenate([position, rotation, gripper[:, None]], axis=1)

    def encode_next(
        self, position: np.ndarray, quat: np.ndarray, gripper: float, previous: np.ndarray | None
    ) -> np.ndarray:
        """The feature vector (``dim``,) of one more pose of a sequence whose last vector was ``previous`` (None
        starts a sequence): continuous with it as ``encode`` is along an episode. For live observations."""
        current = self.encode(np.asarray(position)[None], np.asarray(quat)[None], np.array([gripper]))[0]
        if previous is None or self.rotation == "6d":
            return current
        rotation = slice(3, self.gripper_index)
        if self.rotation == "quat":
            if float(current[rotation] @ np.asarray(previous)[rotation]) < 0.0:
                current[rotation] *= -1.0
        else:
            current[rotation] = make_rotvec_continuous(np.stack([previous[rotation], current[rotation]]))[1]
        return current

    def decode(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(position (..., 3) m, quat (..., 4) [w, x, y, z] with w >= 0, gripper (...,))`` of feature vectors
        (..., ``dim``). Any rotation vector, quaternion or pair of 6D columns a policy predicts decodes to the
        nearest rotation."""
        features = np.asarray(features, dtype=np.float64)
        if features.shape[-1:] != (self.dim,):
            raise ValueError(
                f"{self.rotation} end-effector vectors need {self.dim} values ({', '.join(self.names)}), "
                f"got shape {features.shape}"
            )
        rotation = features[..., 3 : self.gripper_index]
        if self.rotation == "rotvec":
            quat = quat_from_rotvec(rotation)
        elif self.rotation == "quat":
            quat = quat_normalize(rotation)
            quat = np.where(quat[..., :1] < 0.0, -quat, quat)
        else:
            quat = matrix_to_quat(matrix_from_rot6d(rotation))
        return features[..., :3].copy(), quat, features[..., self.gripper_index].copy()

    def to_json(self) -> dict[str, Any]:
        return {"rotation": self.rotation, "tcp": self.tcp, "names": list(self.names)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EELayout:
        return cls(rotation=data.get("rotation", "rotvec"), tcp=data.get("tcp", SITE_NAME))

    @classmethod
    def from_names(cls, names: list[str] | tuple[str, ...], tcp: str = SITE_NAME) -> EELayout | None:
        """The layout whose feature names are ``names`` (in order), or None when they are not an EE layout."""
        for rotation in ROTATION_ENCODINGS:
            layout = cls(rotation, tcp)  # type: ignore[arg-type]
            if tuple(names) == layout.names:
                return layout
        return None

    @classmethod
    def from_dim(cls, dim: int, tcp: str = SITE_NAME) -> EELayout | None:
        """The layout of dimension ``dim`` (7, 8 or 10), or None: for checkpoints that kept shapes, not names."""
        for rotation in ROTATION_ENCODINGS:
            layout = cls(rotation, tcp)  # type: ignore[arg-type]
            if layout.dim == dim:
                return layout
        return None


def make_rotvec_continuous(rotvecs: np.ndarray) -> np.ndarray:
    """Rotation vectors (T, 3) made continuous along the sequence, the same rotations.

    ``(angle + 2 pi k) * axis`` is the same rotation for every integer k; each frame takes the k that puts it
    nearest its predecessor (the first frame keeps its angle within 0..pi). Without this, a rotation passing
    through an angle of pi jumps from ``pi * axis`` to ``-pi * axis``.
    """
    rotvecs = np.array(rotvecs, dtype=np.float64)
    if rotvecs.ndim != 2 or rotvecs.shape[1] != 3:
        raise ValueError(f"a rotation-vector sequence needs shape (T, 3), got {rotvecs.shape}")
    angles = np.linalg.norm(rotvecs, axis=1)
    # Only frames whose angle nears pi can have a nearer equivalent: a cheap test keeps the loop off the rest.
    near_pi = angles > np.pi - 0.5
    if not near_pi.any():
        return rotvecs
    axes = np.divide(rotvecs, angles[:, None], out=np.zeros_like(rotvecs), where=angles[:, None] > 1e-12)
    out = rotvecs
    for t in range(1, len(out)):
        if not (near_pi[t] or np.linalg.norm(out[t - 1]) > np.pi - 0.5):
            continue
        # The equivalents lie on the line through the axis; the nearest to the predecessor is its projection
        # rounded to the 2 pi lattice offset by this frame's angle.
        along = float(out[t - 1] @ axes[t])
        k = np.round((along - angles[t]) / (2.0 * np.pi))
        out[t] = (angles[t] + 2.0 * np.pi * k) * axes[t]
    return out
