"""The SO-101 model and the assembled scene: kinematics and parameters agree with the official description."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest
from arm_scenes import REFERENCE_XML, needs_reference

from so101.errors import ConfigError
from so101.kinematics.units import JOINT_NAMES
from so101.sim.paths import ROBOT_XML
from so101.sim.scene import CameraConfig, SceneConfig, build_scene


def _site_pose(model: mujoco.MjModel, data: mujoco.MjData, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    for i, name in enumerate(JOINT_NAMES):
        data.qpos[model.joint(name).qposadr[0]] = q[i]
    mujoco.mj_kinematics(model, data)
    site = data.site("gripperframe")
    return site.xpos.copy(), site.xmat.reshape(3, 3).copy()


@needs_reference
def test_gripperframe_matches_reference_across_random_configurations() -> None:
    ours = mujoco.MjModel.from_xml_path(str(ROBOT_XML))
    reference = mujoco.MjModel.from_xml_path(str(REFERENCE_XML))
    ours_data, reference_data = mujoco.MjData(ours), mujoco.MjData(reference)
    lower = np.array([reference.joint(name).range[0] for name in JOINT_NAMES])
    upper = np.array([reference.joint(name).range[1] for name in JOINT_NAMES])
    rng = np.random.default_rng(0)
    worst_position, worst_angle = 0.0, 0.0
    for q in rng.uniform(lower, upper, size=(1000, 6)):
        p_ours, r_ours = _site_pose(ours, ours_data, q)
        p_ref, r_ref = _site_pose(reference, reference_data, q)
        worst_position = max(worst_position, float(np.linalg.norm(p_ours - p_ref)))
        cos_angle = np.clip((np.trace(r_ours.T @ r_ref) - 1.0) / 2.0, -1.0, 1.0)
        worst_angle = max(worst_angle, float(np.degrees(np.arccos(cos_angle))))
    assert worst_position < 0.0005
    assert worst_angle < 0.5


@needs_reference
def test_joint_ranges_inertials_and_servo_parameters_match_reference() -> None:
    ours = mujoco.MjModel.from_xml_path(str(ROBOT_XML))
    reference = mujoco.MjModel.from_xml_path(str(REFERENCE_XML))
    for name in JOINT_NAMES:
        a, b = ours.joint(name), reference.joint(name)
        np.testing.assert_allclose(a.range, b.range, atol=1e-6)
        np.testing.assert_allclose(ours.jnt_axis[a.id], reference.jnt_axis[b.id], atol=1e-9)
        dof_a, dof_b = a.dofadr[0], b.dofadr[0]
        np.testing.assert_allclose(
            [ours.dof_damping[dof_a], ours.dof_frictionloss[dof_a], ours.dof_armature[dof_a]],
            [reference.dof_damping[dof_b], reference.dof_frictionloss[dof_b], reference.dof_armature[dof_b]],
        )
        body_a, body_b = ours.jnt_bodyid[a.id], reference.jnt_bodyid[b.id]
        assert ours.body_mass[body_a] == pytest.approx(reference.body_mass[body_b], rel=1e-6)
        np.testing.assert_allclose(ours.body_ipos[body_a], reference.body_ipos[body_b], atol=1e-7)
        np.testing.assert_allclose(
            np.sort(ours.body_inertia[body_a]), np.sort(reference.body_inertia[body_b]), rtol=1e-4
        )
        actuator_a, actuator_b = ours.actuator(name), reference.actuator(name)
        np.testing.assert_allclose(actuator_a.gainprm[:1], actuator_b.gainprm[:1])
        np.testing.assert_allclose(actuator_a.biasprm[:3], actuator_b.biasprm[:3])
        np.testing.assert_allclose(actuator_a.forcerange, actuator_b.forcerange)
        np.testing.assert_allclose(actuator_a.ctrlrange, actuator_b.ctrlrange, atol=1e-5)


@needs_reference
def test_scene_runs_on_the_official_model() -> None:
    from so101.sim.simulator import So101Sim

    sim = So101Sim(SceneConfig(robot_xml=REFERENCE_XML))
    sim.reset(3)
    for _ in range(10):
        sim.step(sim.commanded_targets())
    np.testing.assert_allclose(sim.joint_positions()[:5], sim.commanded_targets()[:5], atol=3.0)
    assert sim.model.camera("wrist_cam").bodyid == sim.model.site("gripperframe").bodyid


def test_scene_contents() -> None:
    scene = build_scene()
    model = scene.model
    for camera in ("overhead_cam", "wrist_cam", "front_cam"):
        assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera) >= 0
    assert [model.joint(i).name for i in range(6)] == list(JOINT_NAMES)
    # The 2x4 brick: 63.8 x 31.8 x 19.2 mm and about 12 g.
    np.testing.assert_allclose(scene.brick_half_size * 2, [0.0638, 0.0318, 0.0192], atol=1e-4)
    assert model.body_subtreemass[scene.brick_body] == pytest.approx(0.012, abs=0.002)
    small = build_scene(SceneConfig(brick="2x2"))
    np.testing.assert_allclose(small.brick_half_size * 2, [0.0318, 0.0318, 0.0192], atol=1e-4)


@pytest.mark.parametrize("fps", [30, 15, 50, 60])
def test_control_step_is_a_whole_number_of_physics_steps(fps: int) -> None:
    config = SceneConfig(fps=fps)
    assert config.substeps * config.timestep == pytest.approx(1.0 / fps, abs=1e-15)
    assert abs(config.timestep - 0.002) < 0.002 / 2


def test_bad_robot_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SceneConfig(robot_xml=tmp_path / "missing.xml")
    other = tmp_path / "other_arm.xml"
    other.write_text(
        '<mujoco><worldbody><body name="base"><joint name="j1"/><geom size="0.1"/></body></worldbody></mujoco>'
    )
    with pytest.raises(ConfigError, match=r"--scene.robot_xml .*lacks the joints"):
        build_scene(SceneConfig(robot_xml=other))
    with pytest.raises(ValueError, match="unknown camera"):
        CameraConfig("side_cam")


def _six_joint_arm(site: str, actuators: str) -> str:
    bodies = "".join(
        f'<body name="link{i}" pos="0 0 0.05"><joint name="{name}" range="-1 1"/><geom size="0.01"/>'
        for i, name in enumerate(JOINT_NAMES)
    )
    return f"<mujoco><worldbody>{bodies}{site}{'</body>' * 6}</worldbody><actuator>{actuators}</actuator></mujoco>"


def test_an_arm_without_tcp_site_or_actuators_is_refused_naming_the_fix(tmp_path: Path) -> None:
    no_site = tmp_path / "no_site.xml"
    no_site.write_text(_six_joint_arm("", ""))
    with pytest.raises(ConfigError, match="no site named 'gripperframe'; add one"):
        build_scene(SceneConfig(robot_xml=no_site))
    no_actuators = tmp_path / "no_actuators.xml"
    no_actuators.write_text(_six_joint_arm('<site name="gripperframe"/>', ""))
    with pytest.raises(ConfigError, match="needs exactly one <position> actuator: add it to the robot MJCF"):
        build_scene(SceneConfig(robot_xml=no_actuators))


def test_finger_pads_hold_the_brick_through_lift_and_carry_without_sinking_in() -> None:
    from grasp_poses import grasp_pose

    from so101.sim.randomization import ScenePlacement
    from so101.sim.simulator import So101Sim

    sim = So101Sim()
    placement = ScenePlacement(seed=None, brick_pos=(0.2, 0.1, 0.0096), brick_yaw=-0.7, bowl_pos=(0.2, -0.14, 0.0))
    sim.reset(placement)
    open_pose = grasp_pose(sim, np.array(placement.brick_pos), placement.brick_yaw)
    sim.place_arm(open_pose)
    closed = open_pose.copy()
    closed[5] = 0.0
    carried = closed + np.array([-60.0, -30.0, 0.0, 0.0, 0.0, 0.0])
    pads = {sim.model.geom("fixed_pad").id, sim.model.geom("moving_pad").id}
    brick_geoms = set(np.flatnonzero(sim.model.geom_bodyid == sim.scene.brick_body))
    deepest = 0.0
    plan = [closed] * 20 + [closed + f * (carried - closed) for f in np.linspace(0, 1, 60)] + [carried] * 30
    for step, action in enumerate(plan):
        signals = sim.step(action)
        if step >= 15:
            assert signals.grasped, f"lost the brick at step {step}"
        for contact in sim.data.contact[: sim.data.ncon]:
            if {contact.geom1, contact.geom2} & pads and {contact.geom1, contact.geom2} & brick_geoms:
                deepest = min(deepest, float(contact.dist))
    assert signals.lifted
    assert sim.data.xpos[sim.scene.brick_body][2] > 0.08
    assert deepest > -0.001  # less than 1 mm of interpenetration under the servo's full squeeze
