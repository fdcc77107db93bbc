"""The simulated follower as a LeRobot robot, driven by LeRobot's own teleoperation loop and ``lerobot-record``,
with LeRobot's real ``so101_leader`` reading the Feetech bus emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from so101.kinematics.units import JOINT_FEATURE_NAMES, radians_to_dataset
from so101.sim.config_lerobot_robot import So101SimRobotConfig
from so101.sim.lerobot_robot import So101SimRobot
from so101.teleop.feetech import emulated_arm
from so101.teleop.feetech.emulator import FeetechBusEmulator

REPO_ROOT = Path(__file__).resolve().parents[1]
POSE = np.array([10.0, -20.0, 30.0, -40.0, 50.0, 25.0])


@pytest.fixture
def robot(tmp_path):
    robot = So101SimRobot(So101SimRobotConfig(camera_width=64, camera_height=48, calibration_dir=tmp_path))
    yield robot
    if robot.is_connected:
        robot.disconnect()


def test_features_match_lerobots_so101_follower(robot, tmp_path):
    from lerobot.robots.so_follower import SO101Follower, SO101FollowerConfig

    follower = SO101Follower(SO101FollowerConfig(port="/dev/null", calibration_dir=tmp_path))
    assert robot.action_features == follower.action_features
    assert robot.observation_features == {
        **follower.observation_features,
        "overhead_cam": (48, 64, 3),
        "wrist_cam": (48, 64, 3),
    }


def test_config_is_validated_as_the_option_blocks_with_the_robot_flags(tmp_path):
    cases = {
        "--robot.camera_width and --robot.camera_height": {"camera_width": -10},
        "--robot.render_profile": {"render_profile": "ultra"},
        "unknown camera 'side_cam'": {"camera_names": ["side_cam"]},
        "--robot.brick": {"brick": "3x3"},
    }
    for message, options in cases.items():
        with pytest.raises(ValueError, match=re.escape(message)):
            So101SimRobotConfig(calibration_dir=tmp_path, **options)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        So101SimRobotConfig(calibration_dir=tmp_path, robot_xml=tmp_path / "missing.xml")
    assert So101SimRobot(So101SimRobotConfig(calibration_dir=tmp_path, camera_names=[])).cameras == {}


def test_send_action_steps_one_control_step(robot):
    from lerobot.utils.errors import DeviceNotConnectedError

    robot.connect()
    sim = robot.sim
    action = dict(zip(JOINT_FEATURE_NAMES, POSE.tolist(), strict=True))
    sent = robot.send_action({**action, "shoulder_pan.pos": 500.0})
    assert sim.steps == 1 and sim.data.time == pytest.approx(1 / 30)
    assert sent["shoulder_pan.pos"] == pytest.approx(110.0)  # clamped to the joint's limit
    for _ in range(29):
        robot.send_action(action)
    observation = robot.get_observation()
    np.testing.assert_allclose([observation[key] for key in JOINT_FEATURE_NAMES], POSE, atol=0.5)
    assert observation["wrist_cam"].shape == (48, 64, 3) and observation["wrist_cam"].dtype == np.uint8
    assert observation["overhead_cam"].std() > 0  # an actual rendering, not a blank buffer
    robot.disconnect()
    with pytest.raises(DeviceNotConnectedError):
        robot.get_observation()


def test_older_normalisation_is_reported_and_taken(tmp_path):
    robot = So101SimRobot(So101SimRobotConfig(use_degrees=False, camera_names=[], calibration_dir=tmp_path))
    robot.connect()
    try:
        observation = robot.get_observation()
        limits = robot.sim.scene.limits
        expected = radians_to_dataset(robot.sim.data.qpos[robot.sim.scene.joint_qpos_adr], limits, "range_m100_100")
        np.testing.assert_allclose([observation[key] for key in JOINT_FEATURE_NAMES], expected)
        robot.send_action(dict.fromkeys(JOINT_FEATURE_NAMES, 0.0))
        middle = (limits.lower + limits.upper) / 2
        np.testing.assert_allclose(robot.sim.data.ctrl[robot.sim.scene.actuator_ids][:5], middle[:5])
    finally:
        robot.disconnect()


def test_lerobot_teleoperate_loop_follows_the_emulated_leader(robot, tmp_path):
    import multiprocessing

    from lerobot.processor import make_default_processors
    from lerobot.scripts.lerobot_teleoperate import teleop_loop
    from lerobot.teleoperators.so_leader import SO101Leader, SO101LeaderConfig

    from so101.teleop.leader_benchmark import serve_emulator

    # The emulated arm answers from its own process, as a real one does: LeRobot's leader reads without retries
    # within a few tens of milliseconds, which a busy test process cannot always give a thread of its own.
    context = multiprocessing.get_context("spawn")
    conn, child_conn = context.Pipe()
    emulator = context.Process(target=serve_emulator, args=(child_conn,), daemon=True)
    emulator.start()
    try:
        port = conn.recv()
        conn.send(POSE)
        conn.recv()
        emulated_arm.write_calibration_file(tmp_path / "leader", "blue")
        teleop = SO101Leader(SO101LeaderConfig(port=port, id="blue", calibration_dir=tmp_path / "leader"))
        teleop.connect()
        robot.connect()
        try:
            teleop_loop(teleop, robot, 30, *make_default_processors(), duration=1.5)
        finally:
            teleop.disconnect()
    finally:
        conn.send(None)
        emulator.join(timeout=10)
    np.testing.assert_allclose(robot.sim.commanded_targets(), POSE, atol=0.1)
    np.testing.assert_allclose(robot.sim.joint_positions(), POSE, atol=2.0)
    assert robot.sim.steps >= 10


def test_lerobot_record_records_the_sim_teleoperated_by_the_leader(tmp_path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = tmp_path / "dataset"
    with FeetechBusEmulator() as emulator:
        emulated_arm.prepare(emulator, tmp_path / "leader", "blue")
        emulator.play(lambda t: POSE)
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "lerobot-record"),
                "--robot.type=so101_sim",
                "--robot.discover_packages_path=so101.sim",
                "--robot.camera_width=64",
                "--robot.camera_height=48",
                "--teleop.type=so101_leader",
                f"--teleop.port={emulator.port}",
                "--teleop.id=blue",
                f"--teleop.calibration_dir={tmp_path / 'leader'}",
                "--dataset.repo_id=local/so101_sim_leader",
                f"--dataset.root={root}",
                "--dataset.single_task=Pick up the Duplo brick and place it in the bowl.",
                "--dataset.num_episodes=1",
                "--dataset.episode_time_s=1",
                "--dataset.reset_time_s=0",
                "--dataset.push_to_hub=false",
                "--play_sounds=false",
            ],
            cwd=tmp_path,
            env={
                **os.environ,
                "PYTHONPATH": str(REPO_ROOT),
                "HF_HUB_OFFLINE": "1",
                "HF_LEROBOT_CALIBRATION": str(tmp_path / "calibration"),
            },
            stdin=subprocess.DEVNULL,
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    dataset = LeRobotDataset("local/so101_sim_leader", root=root)
    assert dataset.meta.total_episodes == 1 and dataset.meta.robot_type == "so101_sim"
    assert dataset.meta.features["observation.images.wrist_cam"]["shape"] == (48, 64, 3)
    actions = np.stack([dataset[i]["action"].numpy() for i in range(len(dataset))])
    np.testing.assert_allclose(actions, np.broadcast_to(POSE, actions.shape), atol=0.1)
    last_state = dataset[len(dataset) - 1]["observation.state"].numpy()
    np.testing.assert_allclose(last_state, POSE, atol=2.0)
    assert dataset[0]["observation.images.overhead_cam"].shape == (3, 48, 64)
    # The workbench's dataset tools accept it, saying what they cannot check without the workbench's scenes.
    from so101.cli import main as so101_main

    validate = ["dataset", "validate", "--dataset.root", str(root), "--dataset.repo_id", "local/so101_sim_leader"]
    assert so101_main(validate) == 0
