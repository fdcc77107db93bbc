"""The simulated SO-101 follower as a LeRobot robot, so that LeRobot's own tools drive it.

    lerobot-teleoperate --robot.type=so101_sim --robot.discover_packages_path=so101.sim --fps=30 \
        --teleop.type=so101_leader --teleop.port=/dev/ttyACM0 --teleop.id=my_leader
    lerobot-record --robot.type=so101_sim --robot.discover_packages_path=so101.sim \
        --teleop.type=so101_leader --teleop.port=/dev/ttyACM0 --teleop.id=my_leader \
        --dataset.repo_id=me/so101_sim_pickplace --dataset.single_task="..." --dataset.push_to_hub=false

Features are those of LeRobot's ``so101_follower``: ``shoulder_pan.pos`` ... ``gripper.pos`` floats in the
follower's units (degrees, gripper 0..100; or -100..100 body joints with ``use_degrees=false``), plus one
(height, width, 3) uint8 image per scene camera. ``send_action`` steps the sim by exactly one control step
(1/fps s of sim time); ``get_observation`` reports the joints and renders the cameras.

The scene is reset to ``config.seed`` on ``connect`` only: LeRobot's loops have no episode reset for a robot,
just as a real arm's scene is reset by hand. ``so101 record`` resets the scene for every episode.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from lerobot.robots.robot import Robot
from lerobot.utils.decorators import check_if_already_connected, check_if_not_connected

from so101.kinematics.units import JOINT_FEATURE_NAMES, Normalization
from so101.sim.config_lerobot_robot import So101SimRobotConfig
from so101.sim.rendering import CameraRenderer
from so101.sim.scene import CameraConfig
from so101.sim.simulator import So101Sim


class So101SimRobot(Robot):
    """LeRobot's robot interface over ``So101Sim`` and its cameras; one control step per ``send_action``."""

    config_class = So101SimRobotConfig
    name = "so101_sim"

    def __init__(self, config: So101SimRobotConfig) -> None:
        super().__init__(config)
        self.config = config
        self.norm: Normalization = "degrees" if config.use_degrees else "range_m100_100"
        images = config.camera_options()
        # LeRobot sizes its image writers by ``len(robot.cameras)``.
        self.cameras: dict[str, CameraConfig] = {camera.name: camera for camera in images.configs()} if images else {}
        self.sim: So101Sim | None = None
        self._renderer: CameraRenderer | None = None

    @property
    def observation_features(self) -> dict[str, type | tuple[int, int, int]]:
        images = {name: (camera.height, camera.width, 3) for name, camera in self.cameras.items()}
        return {**self.action_features, **images}

    @property
    def action_features(self) -> dict[str, type]:
        return dict.fromkeys(JOINT_FEATURE_NAMES, float)

    @property
    def is_connected(self) -> bool:
        return self.sim is not None

    @check_if_already_connected
    def connect(self, calibrate: bool = True) -> None:
        """Build the scene, reset it to ``config.seed`` and open the camera renderers."""
        config = self.config
        sim = So101Sim(config.scene_options().scene_config())
        sim.reset(config.seed)
        images = config.camera_options()
        if images is not None:
            self._renderer = CameraRenderer(sim.model, images.configs(), images.render_profile)
        self.sim = sim

    @property
    def is_calibrated(self) -> bool:
        return True  # simulated joints need no calibration

    def calibrate(self) -> None:
        """Nothing to calibrate in simulation."""

    def configure(self) -> None:
        """Nothing to configure in simulation."""

    @check_if_not_connected
    def get_observation(self) -> dict[str, Any]:
        """Joint positions (floats, follower units) and one (H, W, 3) uint8 image per camera."""
        assert self.sim is not None
        joints = self.sim.joint_positions(self.norm)
        observation: dict[str, Any] = {key: float(v) for key, v in zip(JOINT_FEATURE_NAMES, joints, strict=True)}
        if self._renderer is not None:
            observation.update(self._renderer.render(self.sim.data))
        return observation

    @check_if_not_connected
    def send_action(self, action: dict[str, Any]) -> dict[str, float]:
        """Step the sim by one control step towards ``action`` (follower units); returns the targets sent,
        clamped to the joint limits by the sim."""
        assert self.sim is not None
        missing = [key for key in JOINT_FEATURE_NAMES if key not in action]
        if missing:
            raise ValueError(f"the action lacks {missing}; so101_sim takes {list(JOINT_FEATURE_NAMES)}")
        self.sim.step(np.array([float(action[key]) for key in JOINT_FEATURE_NAMES]), self.norm)
        sent = self.sim.commanded_targets(self.norm)
        return {key: float(value) for key, value in zip(JOINT_FEATURE_NAMES, sent, strict=True)}

    @check_if_not_connected
    def disconnect(self) -> None:
        """Close the renderers and drop the scene."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self.sim = None
