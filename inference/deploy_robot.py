"""The real follower for ``so101 deploy``: LeRobot 0.4.4's own ``SO101Follower``, connected with checks that name
the fix, and released (torque off) whatever happens; and the simulated arm a dry run sends its actions to.
"""

from __future__ import annotations

import logging
import shlex
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from so101.kinematics.units import JOINT_FEATURE_NAMES

if TYPE_CHECKING:
    from lerobot.robots.so_follower import SO101Follower, SO101FollowerConfig

    from so101.sim.simulator import So101Sim

ARM = "follower"
BUS_ATTEMPTS = 3
"""Tries of a set-up step whose bus reply got lost: LeRobot 0.4.4 sends each request once, and a real bus (or a
busy machine serving an emulated one) loses a reply now and then."""
log = logging.getLogger(__name__)


def _with_retries(step: Callable[[], None]) -> None:
    for attempt in range(BUS_ATTEMPTS):
        try:
            step()
            return
        except ConnectionError:
            if attempt == BUS_ATTEMPTS - 1:
                raise
            log.debug("a reply of the follower's bus was lost; trying again")


def calibrate_command(config: SO101FollowerConfig) -> str:
    """LeRobot's command that calibrates the follower (and writes an existing file back to its servos)."""
    words = ["lerobot-calibrate", "--robot.type=so101_follower", f"--robot.port={config.port}",
             f"--robot.id={config.id}"]  # fmt: skip
    if config.calibration_dir is not None:
        words.append(f"--robot.calibration_dir={config.calibration_dir}")
    return shlex.join(words)


def connect_follower(config: SO101FollowerConfig) -> SO101Follower:
    """LeRobot's follower, connected as ``SO101Follower.connect`` does, after checks that name the fix.

    Unlike ``connect``, a calibration that is missing or differs from the servos' stops here instead of
    prompting for a new calibration.

    Raises:
        PortError: the port is missing, busy, or no arm answers on it.
        CalibrationError: the calibration file is missing or does not match the servos.
    """
    from lerobot.robots.so_follower import SO101Follower

    from so101.teleop.feetech import calibration
    from so101.teleop.feetech.ports import check_port, close_quietly, open_bus

    check_port(config.port, "--robot.port", ARM)
    path = calibration.calibration_path(calibration.FOLLOWER, str(config.id), config.calibration_dir)
    calibration.check_file(path, f"the follower {config.id!r}", calibrate_command(config))
    robot = SO101Follower(config)
    open_bus(robot.bus, ARM)
    try:
        arm = f"the follower calibrated as {config.id!r}"
        fix = calibrate_command(config)
        _with_retries(lambda: calibration.check_servos(robot.bus, robot.calibration, path, arm, fix))
        for camera in robot.cameras.values():
            camera.connect()
        _with_retries(robot.configure)
    except BaseException:
        for camera in robot.cameras.values():
            if camera.is_connected:
                camera.disconnect()
        close_quietly(robot.bus)
        raise
    return robot


RELEASE_S = 2.0
"""How long ``release`` keeps trying to switch the torque off through a stalled bus (s)."""


def release(robot: SO101Follower) -> None:
    """Torque off on every servo and close the port and cameras; quiet when the arm is already gone.

    A bus that has just stalled (the watchdog's stop) answers late or out of turn: late replies are dropped from
    the input and the writes retried for ``RELEASE_S``, since an arm left holding torque is the one thing to avoid.
    """
    from so101.teleop.feetech.ports import close_quietly

    deadline = time.monotonic() + RELEASE_S
    while True:
        try:
            if robot.bus.port_handler.is_open:
                robot.bus.port_handler.ser.reset_input_buffer()
            robot.bus.disable_torque(num_retry=1)
            break
        except (ConnectionError, OSError, RuntimeError, termios.error) as error:
            if time.monotonic() > deadline or not robot.bus.port_handler.is_open:
                log.warning("could not release the follower's torque: %s", error)
                break
            time.sleep(0.05)
    close_quietly(robot.bus)
    for camera in robot.cameras.values():
        if camera.is_connected:
            camera.disconnect()


def joint_state(observation: dict[str, Any]) -> np.ndarray:
    """(6,) joints of a follower observation, dataset units."""
    return np.array([float(observation[key]) for key in JOINT_FEATURE_NAMES])


def joint_action(target: np.ndarray) -> dict[str, float]:
    """A follower action (``shoulder_pan.pos`` ...) from (6,) targets."""
    return {key: float(value) for key, value in zip(JOINT_FEATURE_NAMES, target, strict=True)}


class DryRunArm:
    """The simulated arm a dry run drives instead of the follower, shown in a window or written to videos.

    Args:
        fps: control rate.
        video_dir: where each episode's mp4 goes when there is no window.
        window: open the viewer (a display is needed).
    """

    def __init__(self, fps: int, video_dir: Path | None, window: bool) -> None:
        from so101.sim.options import SceneOptions
        from so101.sim.simulator import So101Sim

        self.sim: So101Sim = So101Sim(SceneOptions(fps=fps).scene_config())
        self.sim.reset(0)
        self.viewer: Any = None
        self.video_dir = video_dir
        self._renderer: Any = None
        self._video: Any = None
        if window:
            from so101.sim.viewer import Viewer

            self.viewer = Viewer(self.sim, title="so101 deploy --dry_run")

    def start(self, pose: np.ndarray, episode: int) -> None:
        """Put the simulated arm at the real arm's ``pose`` and open this episode's video."""
        sim = self.sim
        sim.place_arm(pose)
        if self.viewer is None and self.video_dir is not None:
            from so101.sim.rendering import CameraRenderer
            from so101.sim.scene import CameraConfig
            from so101.sim.video import EpisodeVideo

            if self._renderer is None:
                cameras = [CameraConfig("overhead_cam", 320, 240), CameraConfig("front_cam", 320, 240)]
                self._renderer = CameraRenderer(sim.model, cameras)
            path = self.video_dir / f"episode_{episode:03d}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            self._video = EpisodeVideo(path, sim.fps)

    def send(self, target: np.ndarray, step: int) -> None:
        self.sim.step(target)
        if self._video is not None:
            self._video.add(self._renderer.render(self.sim.data), self.sim.signals.as_dict(), step)

    def end_episode(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None

    def close(self) -> None:
        self.end_episode()
        if self._renderer is not None:
            self._renderer.close()
        if self.viewer is not None:
            self.viewer.shutdown()
