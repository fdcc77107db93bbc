"""Where the scene stands in a headset's space: the rigid map from an OpenXR reference space to MuJoCo's world.

Frames (metres):

* OpenXR reference space (``STAGE`` or ``LOCAL``): right-handed, +y up, -z the way the person faced at the start.
* World: origin on the table top at the arm's base, +x forward (away from the person), +z up (``so101.sim.scene``).

The scene is shown at 1:1 scale. ``recenter(head)`` turns and moves the world so that, seen from the head pose
given, the arm's base stands ``distance_m`` straight ahead (along the head's heading, level) and the table top
``table_below_eyes_m`` below the eyes: the person stands or sits behind the arm, looking along its +x. Only the
heading of the head counts, never its pitch or roll, so the table stays level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from so101.errors import ConfigError
from so101.kinematics.pose import Pose, matrix_to_quat, quat_multiply, quat_rotate

_WORLD_FROM_XR_AXES = matrix_to_quat(np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
"""World axes from OpenXR's for a person facing -z: world x = -z (forward), y = -x (left), z = +y (up)."""


@dataclass
class WorkspacePlacement:
    """Where a recenter puts the workspace relative to the head."""

    distance_m: float = 0.35
    """Horizontal distance from the eyes to the arm's base (m): the workspace (0.1-0.35 m ahead of the base)
    then lies 0.45-0.7 m ahead of the eyes, a comfortable reach for the hands."""
    table_below_eyes_m: float = 0.45
    """Height of the eyes above the table top (m): 0.45 seated at a desk; about 0.8 standing at a table."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.distance_m <= 3.0:
            raise ConfigError("vr.distance_m", self.distance_m, "must be within 0..3 m")
        if not -1.0 <= self.table_below_eyes_m <= 2.5:
            raise ConfigError("vr.table_below_eyes_m", self.table_below_eyes_m, "must be within -1..2.5 m")


class WorkspaceAnchor:
    """The map from the OpenXR reference space to the world; unset until the first ``recenter``."""

    def __init__(self, placement: WorkspacePlacement | None = None) -> None:
        self.placement = placement or WorkspacePlacement()
        self.world_from_xr: Pose | None = None
        """The reference space's pose in the world (m, ``[w, x, y, z]``); None before the first recenter."""

    @property
    def is_set(self) -> bool:
        return self.world_from_xr is not None

    def recenter(self, head: Pose) -> None:
        """Put the workspace in front of ``head`` (the head's pose in the reference space)."""
        forward = quat_rotate(head.quat, np.array([0.0, 0.0, -1.0]))
        heading = math.atan2(-forward[0], -forward[2])  # yaw about +y that turns -z onto the level heading
        half = 0.5 * heading
        xr_from_heading = np.array([math.cos(half), 0.0, math.sin(half), 0.0])
        level = np.array([-math.sin(heading), 0.0, -math.cos(heading)])
        placement = self.placement
        origin = np.asarray(head.position, dtype=np.float64) + placement.distance_m * level
        origin[1] -= placement.table_below_eyes_m
        rotation = quat_multiply(_WORLD_FROM_XR_AXES, xr_from_heading * np.array([1.0, -1.0, -1.0, -1.0]))
        self.world_from_xr = Pose(-quat_rotate(rotation, origin), rotation)

    def to_world(self, pose: Pose) -> Pose:
        """A pose given in the reference space (a head, an eye, a hand), in the world; its own axes are kept
        (an eye still looks along its -z, with +y up)."""
        if self.world_from_xr is None:
            raise RuntimeError("the workspace is not placed yet: recenter it on a head pose first")
        return self.world_from_xr.compose(Pose(np.asarray(pose.position, dtype=np.float64), pose.quat))
