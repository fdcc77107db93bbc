"""``so101 emulate leader|follower``: an emulated, calibrated SO-101 arm on a pseudo-terminal, for trying teleop
and deployment without hardware.

    so101 emulate leader
    so101 emulate leader --trajectory sweep --speed 0.5 --duration_s 60
    so101 emulate follower                        # the follower rig: servos + simulated cameras for so101 deploy

The Feetech bus emulator (``so101.teleop.feetech.emulator``) serves six STS3215 servos on a pseudo-terminal such as
``/dev/pts/5``, which LeRobot opens as it opens a real arm's ``/dev/ttyACM0``. The command stores an example
calibration in the emulated servos, writes the matching calibration file for ``--id`` (in LeRobot's place for
leaders, or ``--calibration_dir``), prints the port and the ``so101 teleop`` command that uses it, and moves the
joints along a scripted trajectory (``so101.teleop.feetech.trajectories``) until Ctrl-C or ``--duration_s``.

The follower (``so101.teleop.feetech.follower_rig``) rests at the simulator's start pose; its servos move toward the
goals LeRobot's ``SO101Follower`` writes, at servo speed, while torque is on. The command prints the
``--robot.cameras`` of simulated LeRobot cameras (``so101_sim``) that render the scene posed from its servos, and
the ``so101 deploy`` command that uses them.
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from so101.command import run_command
from so101.errors import ConfigError
from so101.teleop.feetech.trajectories import MotionName

Device = Literal["leader", "follower"]
"""What ``so101 emulate`` can emulate."""


@dataclass
class EmulateConfig:
    """Options of ``so101 emulate <device>``."""

    device: Device | None = None
    """The device to emulate, the first word after ``emulate``: ``leader`` or ``follower`` (SO-101 arms)."""
    id: str | None = None
    """Name of the emulated arm; its calibration file is ``<calibration_dir>/<id>.json``; default: one per
    instance, from its pseudo-terminal (``emulated_follower_pts5`` on ``/dev/pts/5``), so that two emulators on one
    machine share no calibration file or pose feed."""
    calibration_dir: Path | None = None
    """Where to write the calibration file; default: LeRobot's place, ``$HF_LEROBOT_CALIBRATION/teleoperators/
    so_leader`` or ``.../robots/so_follower``. An existing file of another arm is never replaced."""
    trajectory: MotionName = "wave"
    """Leader: how the joints move: ``wave`` (every joint on its own slow sine), ``sweep`` (one joint after the
    other through a wide swing) or ``still`` (held at the middle of every range)."""
    pose_feed: Path | None = None
    """Follower: the file its servo positions are published to for the simulated cameras; default:
    ``so101_<id>.pose`` in the temporary folder."""
    camera_width: int = 640
    """Follower: image width (pixels) of the suggested simulated cameras."""
    camera_height: int = 480
    """Follower: image height (pixels) of the suggested simulated cameras."""
    seed: int = 0
    """Follower: scene seed of the simulated cameras (where the brick and the bowl are)."""
    speed: float = 1.0
    """Playback speed of the trajectory (2: twice as fast)."""
    duration_s: float | None = None
    """Stop after this much time (s); default: serve until Ctrl-C."""

    def __post_init__(self) -> None:
        if self.device is None:
            raise ValueError("name the device to emulate: so101 emulate leader, or so101 emulate follower")
        if self.speed <= 0:
            raise ConfigError("speed", self.speed, "must be positive")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ConfigError("duration_s", self.duration_s, "must be positive")
        if self.camera_width < 16 or self.camera_height < 16:
            raise ValueError("--camera_width and --camera_height must be at least 16")


def teleop_command(port: str, arm_id: str, calibration_dir: Path | None) -> str:
    """The ``so101 teleop`` command line that drives the sim from the emulated leader."""
    words = ["so101", "teleop", "--teleop", "leader", "--leader.port", port, "--leader.id", arm_id]
    if calibration_dir is not None:
        words += ["--leader.calibration_dir", str(calibration_dir)]
    return shlex.join(words)


def sim_cameras(pose_feed: Path, width: int, height: int, seed: int) -> str:
    """The ``--robot.cameras`` value of simulated cameras rendering the rig's arm (``so101.sim.lerobot_camera``)."""
    entries = [
        f"{name}: {{type: so101_sim, scene_camera: {name}, pose_feed: {pose_feed}, width: {width}, "
        f"height: {height}, fps: 30, seed: {seed}}}"
        for name in ("overhead_cam", "wrist_cam")
    ]
    return "{" + ", ".join(entries) + "}"


def deploy_command(port: str, arm_id: str, calibration_dir: Path | None, cameras: str) -> str:
    """The ``so101 deploy`` command line that runs a policy on the emulated follower."""
    words = ["so101", "deploy", "--policy.path", "CKPT", "--robot.port", port, "--robot.id", arm_id]
    if calibration_dir is not None:
        words += ["--robot.calibration_dir", str(calibration_dir)]
    return shlex.join([*words, "--robot.cameras", cameras])


def wait(cfg: EmulateConfig) -> None:
    until = "Ctrl-C" if cfg.duration_s is None else f"Ctrl-C or {cfg.duration_s:g} s"
    print(f"serving until {until}", flush=True)
    # Nothing to do here: the emulator's thread answers the client and moves the joints at each read.
    threading.Event().wait(cfg.duration_s)


def emulate_follower(cfg: EmulateConfig) -> int:
    """Serve the follower rig until ``cfg.duration_s`` has passed or Ctrl-C."""
    from so101.sim.simulator import START_POSE
    from so101.teleop.feetech import calibration
    from so101.teleop.feetech.follower_rig import FollowerRig

    folder = calibration.calibration_path(calibration.FOLLOWER, cfg.id or "", cfg.calibration_dir).parent
    with FollowerRig(folder, cfg.id, cfg.pose_feed, START_POSE) as rig:
        arm_id, path, feed = rig.arm_id, rig.calibration_path, rig.pose_feed
        cameras = sim_cameras(feed, cfg.camera_width, cfg.camera_height, cfg.seed)
        print(f"emulated SO-101 follower arm {arm_id!r} on {rig.port}", flush=True)
        print(f"calibration file: {path}", flush=True)
        print(f"pose feed: {feed}", flush=True)
        print(f"simulated cameras: --robot.cameras {shlex.quote(cameras)}", flush=True)
        print(f"try:  {deploy_command(rig.port, arm_id, cfg.calibration_dir, cameras)}", flush=True)
        try:
            wait(cfg)
        finally:
            requests = rig.emulator.counters.requests
            print(f"emulated follower: served {sum(requests.values())} requests", flush=True)
    return 0


def emulate(cfg: EmulateConfig) -> int:
    """Body of ``so101 emulate``: serve the emulated arm until ``cfg.duration_s`` has passed or Ctrl-C."""
    if cfg.device == "follower":
        return emulate_follower(cfg)
    from so101.teleop.feetech import calibration
    from so101.teleop.feetech.emulated_arm import instance_id, prepare
    from so101.teleop.feetech.emulator import FeetechBusEmulator
    from so101.teleop.feetech.trajectories import scripted_motion

    with FeetechBusEmulator() as emulator:
        arm_id = cfg.id or instance_id("leader", emulator.port)
        path = calibration.calibration_path(calibration.LEADER, arm_id, cfg.calibration_dir)
        prepare(emulator, path.parent, arm_id)
        emulator.play(scripted_motion(cfg.trajectory, cfg.speed))
        print(f"emulated SO-101 leader arm {arm_id!r} on {emulator.port}", flush=True)
        print(f"calibration file: {path}", flush=True)
        print(f"joints: {cfg.trajectory} trajectory at {cfg.speed:g}x speed", flush=True)
        print(f"try:  {teleop_command(emulator.port, arm_id, cfg.calibration_dir)}", flush=True)
        try:
            wait(cfg)
        finally:
            requests = emulator.counters.requests
            served = f"{sum(requests.values())} requests ({requests['sync_read']} joint reads)"
            print(f"emulated leader: served {served}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 emulate <device>``; returns the exit status."""
    return run_command("emulate", EmulateConfig, emulate, argv, positional="device")
