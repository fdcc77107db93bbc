"""The follower rig (``so101.teleop.feetech.follower_rig``, ``so101.sim.pose_feed``) with the simulated LeRobot camera
(``so101.sim.lerobot_camera``): LeRobot's own ``SO101Follower`` and camera code drive it unmodified; and
``so101 emulate follower`` serving it from its own process."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from so101.sim.pose_feed import read_pose
from so101.sim.simulator import START_POSE
from so101.teleop.feetech.follower_rig import FollowerRig

REPO_ROOT = Path(__file__).resolve().parents[1]


def follower(port: str, calibration_dir: Path, cameras: dict) -> object:
    from lerobot.robots.so_follower import SO101Follower, SO101FollowerConfig

    return SO101Follower(SO101FollowerConfig(port=port, id="rig", calibration_dir=calibration_dir, cameras=cameras))


def test_lerobots_follower_moves_the_servos_at_servo_speed_and_the_cameras_follow(tmp_path: Path) -> None:
    from so101.sim.config_lerobot_camera import So101SimCameraConfig

    with FollowerRig(tmp_path, "rig", tmp_path / "pose", START_POSE) as rig:
        assert np.allclose(rig.positions(), START_POSE, atol=0.1)
        assert np.allclose(read_pose(tmp_path / "pose")[0], START_POSE, atol=0.1)
        camera = So101SimCameraConfig(scene_camera="front_cam", pose_feed=str(tmp_path / "pose"), width=64, height=48)
        robot = follower(rig.port, tmp_path, {"front_cam": camera})
        robot.connect(calibrate=False)  # the rig's servos hold the calibration of its file
        try:
            assert robot.is_calibrated and all(rig.torque_enabled())
            observation = robot.get_observation()
            assert observation["shoulder_pan.pos"] == pytest.approx(0.0, abs=0.1)
            before = observation["front_cam"]
            assert before.shape == (48, 64, 3) and before.dtype == np.uint8
            goal = {key: observation[key] for key in observation if key.endswith(".pos")}
            robot.send_action({**goal, "shoulder_pan.pos": 60.0})
            time.sleep(0.05)
            moving = robot.get_observation()["shoulder_pan.pos"]
            assert 0.0 < moving < 60.0  # on its way: 264 degrees/s at most
            time.sleep(0.4)
            after = robot.get_observation()
            assert after["shoulder_pan.pos"] == pytest.approx(60.0, abs=0.2)
            assert np.abs(after["front_cam"].astype(int) - before.astype(int)).mean() > 1.0  # the arm turned
        finally:
            robot.disconnect()
        assert not any(rig.torque_enabled())  # LeRobot releases torque on disconnect


def test_a_stale_pose_feed_is_a_stale_camera(tmp_path: Path) -> None:
    from so101.sim.config_lerobot_camera import So101SimCameraConfig
    from so101.sim.lerobot_camera import So101SimCamera

    with FollowerRig(tmp_path, "rig", tmp_path / "pose", START_POSE):
        camera = So101SimCamera(So101SimCameraConfig(pose_feed=str(tmp_path / "pose"), width=32, height=24))
        camera.connect()
    time.sleep(0.1)  # the rig has stopped publishing
    with pytest.raises(TimeoutError, match="ms old"):
        camera.read_latest(max_age_ms=50)
    camera.disconnect()
    with pytest.raises(ValueError, match="scene_camera"):
        So101SimCameraConfig(scene_camera="side_cam")


def test_so101_emulate_follower_serves_lerobots_follower_from_its_own_process(tmp_path: Path) -> None:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "so101", "emulate", "follower", "--calibration_dir", str(tmp_path), "--pose_feed",
         str(tmp_path / "pose"), "--camera_width", "64", "--camera_height", "48", "--duration_s", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
    )  # fmt: skip
    try:
        lines: list[str] = []
        while not any(line.startswith("try:") for line in lines):
            line = process.stdout.readline()
            assert line, f"so101 emulate follower ended early: {lines} {process.stderr.read()}"
            lines.append(line.rstrip("\n"))
        suggested = shlex.split(next(line for line in lines if line.startswith("try:"))[len("try:") :])
        port = suggested[suggested.index("--robot.port") + 1]
        arm_id = "emulated_follower_" + port.removeprefix("/dev/").replace("/", "")  # its own, from its port
        assert suggested[suggested.index("--robot.id") + 1] == arm_id
        assert (tmp_path / f"{arm_id}.json").is_file()
        from so101.command import parse
        from so101.inference.deploy import DeployConfig

        # The suggested command's options parse into LeRobot's follower config with the simulated cameras.
        config = parse(DeployConfig, suggested[2:], "deploy")
        assert sorted(config.robot.cameras) == ["overhead_cam", "wrist_cam"]
        from lerobot.robots.so_follower import SO101Follower

        robot = SO101Follower(config.robot)
        robot.connect(calibrate=False)
        try:
            observation = robot.get_observation()
            assert observation["wrist_cam"].shape == (48, 64, 3)
            assert observation["elbow_flex.pos"] == pytest.approx(START_POSE[2], abs=0.1)
        finally:
            robot.disconnect()
        assert port.startswith("/dev/")
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
