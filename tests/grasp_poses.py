"""Arm poses for tests that start from a grasp: the jaws around the brick, found with the workbench's IK."""

from __future__ import annotations

import numpy as np

from so101.kinematics.ik import IKSolver
from so101.kinematics.pose import quat_from_xyaxes
from so101.kinematics.units import radians_to_dataset
from so101.sim.simulator import So101Sim


def grasp_pose(sim: So101Sim, brick_pos: np.ndarray, yaw: float) -> np.ndarray:
    """Arm joints (dataset units, gripper open) with the jaws around a brick at ``brick_pos`` with ``yaw``.

    The gripper points down, its y axis along the brick's long side. The site sits at the fixed jaw's tip and
    its z axis points from the fixed jaw towards the moving one, so the brick's centre lies 15.3 mm along +z
    from the site: half the brick's 31.8 mm width, less the 0.6 mm the fixed pad's face stands off the site.
    """
    solver = IKSolver(sim.model)
    # The wrist roll spans less than a full turn: a brick is gripped at its yaw or at its yaw + pi.
    for grip_yaw in (yaw, yaw + np.pi):
        x_axis = np.array([0.0, 0.0, -1.0])
        y_axis = np.array([np.cos(grip_yaw), np.sin(grip_yaw), 0.0])
        z_axis = np.cross(x_axis, y_axis)
        quat = quat_from_xyaxes(np.r_[x_axis, y_axis])
        q, result = solver.solve(brick_pos - 0.0153 * z_axis + [0.0, 0.0, 0.003], quat)
        if result.converged:
            break
    assert result.converged
    joints = radians_to_dataset(q, sim.scene.limits)
    joints[5] = 40.0
    return joints

