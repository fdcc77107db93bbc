"""Vectorised forward kinematics along whole episodes (kinematics/batch_fk.py)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from arm_scenes import model_params, scene_with_arm

from so101.kinematics.batch_fk import ChainFK
from so101.kinematics.fk import ForwardKinematics
from so101.kinematics.pose import quat_angle
from so101.sim.paths import ROBOT_XML


@pytest.mark.parametrize("path", model_params())
def test_chain_fk_equals_mujocos_on_both_models_and_in_a_moved_scene(path) -> None:
    qs = np.random.default_rng(1).uniform(-1.6, 1.6, (500, 6))
    for model in (mujoco.MjModel.from_xml_path(str(path)), scene_with_arm(path, [0.1, -0.2, 0.3], 0.7)):
        expected, found = ForwardKinematics(model).batch(qs), ChainFK(model).batch(qs)
        np.testing.assert_allclose(found.position, expected.position, atol=1e-12)
        assert np.max(quat_angle(found.quat, expected.quat)) < 1e-10
        # Signs continuous like ForwardKinematics.batch: consecutive quaternions never point apart.
        assert np.all(np.sum(found.quat[1:] * found.quat[:-1], axis=1) >= 0.0)


def test_chain_fk_of_another_site_and_bad_input() -> None:
    model = mujoco.MjModel.from_xml_path(str(ROBOT_XML))
    qs = np.zeros((3, 6))
    np.testing.assert_allclose(ChainFK(model, site="baseframe").batch(qs).position, 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        ChainFK(model).batch(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="no site named"):
        ChainFK(model, site="nowhere")
