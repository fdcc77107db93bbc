"""Privileged scene state: where the brick and the bowl are, as LeRobot's ``observation.environment_state``.

No real SO-101 measures this. It exists for studies: a policy that observes the objects' poses instead of camera
images needs no vision, so its success separates the control and data path (actions, timing, gripper, success
signals) from learning to see. ``so101 record --environment_state`` records it, ``so101 train
--policy.environment_state`` feeds it to ACT (LeRobot's ACT takes it natively), and evaluation provides it to
policies that were trained on it.

Frame: world (= the table top at the arm's base, +x forward, +z up); metres; the brick's orientation as a unit
quaternion ``[w, x, y, z]`` with ``w >= 0`` (one of the two signs, so equal orientations give equal values).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from so101.sim.simulator import So101Sim

ENVIRONMENT_STATE_KEY = "observation.environment_state"
ENVIRONMENT_STATE_NAMES = [
    "brick.x", "brick.y", "brick.z", "brick.qw", "brick.qx", "brick.qy", "brick.qz", "bowl.x", "bowl.y", "bowl.z",
]
"""The values of ``observation.environment_state``, in order."""


def environment_state(sim: So101Sim) -> np.ndarray:
    """The brick's centre and orientation and the bowl's position now, float32 (10,) (see the module docstring)."""
    scene, data = sim.scene, sim.data
    adr = scene.brick_qpos_adr
    quat = np.array(data.qpos[adr + 3 : adr + 7])
    if quat[0] < 0:
        quat = -quat
    return np.concatenate([data.qpos[adr : adr + 3], quat, data.xpos[scene.bowl_body]]).astype(np.float32)


def environment_state_feature() -> dict[str, dict[str, Any]]:
    """The dataset feature, in the form ``LeRobotDataset.create`` takes."""
    names = list(ENVIRONMENT_STATE_NAMES)
    return {ENVIRONMENT_STATE_KEY: {"dtype": "float32", "shape": (len(names),), "names": names}}
