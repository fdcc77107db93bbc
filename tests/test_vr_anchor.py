"""The workspace anchor: a recenter puts the arm's base ahead of the head at table height, level, 1:1
(teleop/vr/anchor.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from so101.kinematics.pose import Pose, quat_multiply, quat_rotate
from so101.teleop.vr.anchor import WorkspaceAnchor, WorkspacePlacement


def yaw_pitch(yaw: float, pitch: float) -> np.ndarray:
    """A head orientation in OpenXR's frame: turned by ``yaw`` about +y, then tilted by ``pitch`` about +x."""
    turn = np.array([math.cos(yaw / 2), 0.0, math.sin(yaw / 2), 0.0])
    tilt = np.array([math.cos(pitch / 2), math.sin(pitch / 2), 0.0, 0.0])
    return quat_multiply(turn, tilt)


@pytest.mark.parametrize("yaw", [0.0, 1.2, -2.5])
def test_recenter_puts_the_base_ahead_and_below(yaw: float) -> None:
    anchor = WorkspaceAnchor(WorkspacePlacement(distance_m=0.4, table_below_eyes_m=0.5))
    head = Pose(np.array([0.7, 1.3, -0.2]), yaw_pitch(yaw, -0.6))  # looking down at the table
    anchor.recenter(head)
    eyes = anchor.to_world(head)
    np.testing.assert_allclose(eyes.position, [-0.4, 0.0, 0.5], atol=1e-12)
    forward = quat_rotate(eyes.quat, np.array([0.0, 0.0, -1.0]))
    assert forward[0] > 0.5 and abs(forward[1]) < 1e-9  # looking along +x (at the arm), not sideways
    # 1:1 scale, level: a point 10 cm above the head in OpenXR is 10 cm above it in the world.
    above = anchor.to_world(Pose(head.position + np.array([0.0, 0.1, 0.0]), head.quat))
    np.testing.assert_allclose(above.position - eyes.position, [0.0, 0.0, 0.1], atol=1e-12)


def test_unplaced_anchor_refuses_poses() -> None:
    with pytest.raises(RuntimeError, match="recenter"):
        WorkspaceAnchor().to_world(Pose(np.zeros(3), np.array([1.0, 0.0, 0.0, 0.0])))
    with pytest.raises(ValueError, match=r"--vr\.distance_m"):
        WorkspacePlacement(distance_m=-1.0)
