"""SO-101 models for tests: the workbench's own, TheRobotStudio's reference (when ../shared/reference is beside
the repository, as in CI), and a scene that moves the arm away from the origin and from qpos[:6]."""

from __future__ import annotations

from pathlib import Path

import mujoco
import pytest

from so101.kinematics.pose import yaw_quat
from so101.sim.paths import ROBOT_XML
from so101.sim.scene import unprefixed_attach

REFERENCE_XML = Path(__file__).resolve().parents[2] / "shared" / "reference" / "so101_trs" / "so101_new_calib.xml"
needs_reference = pytest.mark.skipif(
    not REFERENCE_XML.is_file(), reason="TheRobotStudio's reference model is not in ../shared/reference"
)


def model_params() -> list:
    """Both SO-101 models as pytest parameters; the reference one is skipped where it is absent."""
    return [
        pytest.param(ROBOT_XML, id="workbench"),
        pytest.param(REFERENCE_XML, id="reference", marks=needs_reference),
    ]


def scene_with_arm(path: Path, base_pos: list[float], base_yaw: float) -> mujoco.MjModel:
    """The arm of ``path`` with its base at ``base_pos`` (m), turned by ``base_yaw`` (rad) about z."""
    arm = mujoco.MjSpec.from_file(str(path))
    scene = mujoco.MjSpec()
    brick = scene.worldbody.add_body(name="brick", pos=[0.3, 0.0, 0.02])
    brick.add_freejoint()
    brick.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.01, 0.01, 0.01])
    frame = scene.worldbody.add_frame(pos=base_pos, quat=yaw_quat(base_yaw))
    with unprefixed_attach():
        frame.attach_body(arm.body("base"), "", "")
        return scene.compile()
