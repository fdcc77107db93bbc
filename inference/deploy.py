"""``so101 deploy``: a trained policy on the real SO-101 follower, checked before it moves and kept safe while it runs.

    so101 deploy --policy.path outputs/train/act_run/best --robot.port /dev/ttyACM0 --robot.id my_follower \\
        --robot.cameras "{overhead_cam: {type: opencv, index_or_path: 0, width: 640, height: 480, fps: 30}, \\
                          wrist_cam: {type: opencv, index_or_path: 2, width: 640, height: 480, fps: 30}}" \\
        --episodes 5 --dataset.root data/deployed
    so101 deploy ... --dry_run          # read the arm and cameras, run the policy, move only the simulated arm

The follower is LeRobot 0.4.4's own ``SO101Follower`` (its calibration files, ``use_degrees``, its camera classes
from ``--robot.cameras``), stepped at the policy's fps on a ``ControlClock`` through the shared ``PolicyRunner``.
Before any motion the preflight (``so101.inference.deploy_preflight``) compares the set-up with the training data;
every action then goes through the safety layer (``so101.inference.deploy_safety``). Torque is released on a normal
exit, Ctrl-C, SIGTERM, SIGHUP, a safety stop and any exception, and read back from the servos
(``so101.inference.deploy_release``).
Every episode is recorded as a LeRobot dataset: ``observation.state``, the cameras, ``policy.action`` (the raw
policy action) and ``action`` (what was sent after the safety layer).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

# Registers LeRobot's camera types and the simulated one with draccus before --robot.cameras is parsed.
import lerobot.cameras.opencv.configuration_opencv
import lerobot.cameras.realsense.configuration_realsense  # noqa: F401
from lerobot.cameras import CameraConfig as LeRobotCameraConfig
from lerobot.robots.so_follower import SO101FollowerConfig

import so101.sim.config_lerobot_camera  # noqa: F401
from so101.command import run_command
from so101.errors import CheckpointError, ConfigError
from so101.inference.deploy_preflight import CHECKS
from so101.inference.deploy_safety import SafetyConfig
from so101.recording.dataset_writer import DatasetConfig
from so101.sim.options import EPISODE_TIME_S

if TYPE_CHECKING:
    from so101.sim.scene import CameraConfig


@dataclass
class DeployPolicyOptions:
    """The policy (``--policy.*``)."""

    path: Path | None = None
    """The checkpoint: its folder, its pretrained_model folder, or a run's ``best``."""
    device: str | None = None
    """cuda, cpu or mps; default: the best available."""
    n_action_steps: int | None = None
    """Actions of each chunk executed before the next policy call; default: the checkpoint's."""
    temporal_ensemble_coeff: float | None = None
    """ACT's temporal ensembling (e.g. 0.01): a policy call every step, overlapping chunks averaged."""


@dataclass
class FollowerOptions:
    """LeRobot's SO-101 follower (``--robot.*``): the fields of its ``SO101FollowerConfig``, each with its help.

    LeRobot's config documents its fields in comments, which ``--help`` cannot show, and registers one class under
    two robot types, which draccus prints twice; this block is what the command line sees, and
    ``lerobot_config`` hands LeRobot its own config."""

    type: Literal["so101_follower", "so100_follower"] = "so101_follower"
    """LeRobot's robot type; ``so100_follower`` is the same follower class in LeRobot 0.4.4."""
    port: str = ""
    """Serial port of the follower's bus adapter, e.g. ``/dev/ttyACM0`` (``lerobot-find-port`` finds it)."""
    id: str | None = None
    """The follower's name, which names its calibration file (as ``lerobot-calibrate --robot.id`` wrote it)."""
    calibration_dir: Path | None = None
    """Folder of the calibration file; default: LeRobot's, ``$HF_LEROBOT_CALIBRATION/robots/so_follower``."""
    cameras: dict[str, LeRobotCameraConfig] = field(default_factory=dict)
    """The policy's cameras by name, as LeRobot camera configs with width, height and fps:
    ``"{overhead_cam: {type: opencv, index_or_path: 0, width: 640, height: 480, fps: 30}, wrist_cam: {...}}"``."""
    use_degrees: bool = True
    """Joints in degrees (LeRobot 0.4's default); false: the older -100..100 normalisation. Must match the
    training data (the ``units`` preflight check)."""
    max_relative_target: float | dict[str, float] | None = None
    """LeRobot's own bound on each motor's move per action (one value, or one per motor name), on top of the
    safety layer's; default: none."""
    disable_torque_on_disconnect: bool = True
    """Release the servos' torque when LeRobot disconnects the arm."""

    def __post_init__(self) -> None:
        self.lerobot_config()  # LeRobot's own checks (each camera's width, height and fps) as option errors

    def lerobot_config(self) -> SO101FollowerConfig:
        """LeRobot's config of the follower, from these options."""
        return SO101FollowerConfig(**{f.name: getattr(self, f.name) for f in fields(self) if f.name != "type"})


@dataclass
class TrainingOptions:
    """The training dataset the preflight compares with (``--training.root``)."""

    root: Path | None = None
    """Its folder; default: the one recorded in the checkpoint (``so101.json``, or ``train_config.json``)."""


@dataclass
class DeployConfig:
    """Options of ``so101 deploy``."""

    policy: DeployPolicyOptions = field(default_factory=DeployPolicyOptions)
    robot: FollowerOptions = field(default_factory=FollowerOptions)
    """LeRobot's SO-101 follower: --robot.port, --robot.id, --robot.cameras, --robot.use_degrees, ..."""
    dataset: DatasetConfig = field(default_factory=lambda: DatasetConfig(repo_id="local/so101_deploy"))
    """Where the deployed episodes are recorded; --dataset.task is also the task given to the policy."""
    training: TrainingOptions = field(default_factory=TrainingOptions)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    episodes: int = 1
    """Episodes to run; between two, the arm holds still for --reset_time_s while the scene is reset."""
    episode_time_s: float = EPISODE_TIME_S
    """Seconds of each episode."""
    reset_time_s: float = 10.0
    """Seconds between episodes, to reset the scene."""
    allow: str = ""
    """Preflight checks to override, comma-separated: cameras, camera_views, task, units, start_pose, timing."""
    start_tolerance_deg: float = 15.0
    """The start_pose check's largest difference from a training start state (degrees; gripper units)."""
    move_to_start: bool = False
    """When the arm is far from the training start states, move it slowly (ramp bound) to the nearest first."""
    warmup_calls: int = 3
    """Policy calls timed on the live observation before the run (the first is not counted)."""
    dry_run: bool = False
    """Read the arm and cameras and run the policy, but move only the simulated arm (window, or videos)."""
    video_dir: Path | None = None
    """Dry run without a display: where each episode's video goes; default: <dataset root>_dry_run/."""
    stop_file: Path | None = None
    """Emergency stop without a terminal: the run stops when this file appears."""

    def __post_init__(self) -> None:
        if self.policy.path is None:
            raise ValueError("give the checkpoint: so101 deploy --policy.path CKPT --robot.port ... --robot.id ...")
        if not self.robot.port:
            raise ValueError("give the follower's serial port: --robot.port /dev/ttyACM0 (lerobot-find-port)")
        if self.robot.id is None:
            raise ValueError("give the follower's id, the name of its calibration: --robot.id my_follower")
        unknown = sorted(set(self.allowed) - set(CHECKS))
        if unknown:
            raise ValueError(f"--allow: unknown check {', '.join(unknown)}; the checks are {', '.join(CHECKS)}")
        if self.episodes < 1:
            raise ConfigError("episodes", self.episodes, "must be at least 1")
        for name in ("episode_time_s", "start_tolerance_deg"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be positive, got {getattr(self, name)}")
        if self.reset_time_s < 0:
            raise ConfigError("reset_time_s", self.reset_time_s, "must be at least 0")
        if self.warmup_calls < 2:
            raise ConfigError("warmup_calls", self.warmup_calls, "must be at least 2 (the first is not timed)")

    @property
    def allowed(self) -> set[str]:
        return {name.strip() for name in self.allow.split(",") if name.strip()}


def training_root(cfg: DeployConfig, pretrained_dir: Path) -> Path:
    """The training dataset: ``--training.root``, else the checkpoint's record of it."""
    if cfg.training.root is not None:
        return Path(cfg.training.root)
    sidecar = pretrained_dir / "so101.json"
    if sidecar.is_file() and json.loads(sidecar.read_text()).get("dataset"):
        return Path(json.loads(sidecar.read_text())["dataset"])
    train_config = pretrained_dir / "train_config.json"
    if train_config.is_file():
        root = json.loads(train_config.read_text()).get("dataset", {}).get("root")
        if root:
            return Path(root)
    raise CheckpointError(
        f"the checkpoint {pretrained_dir} does not say which dataset trained it; pass it as --training.root",
        path=pretrained_dir,
    )


def session_record(
    cfg: DeployConfig,
    checkpoint: Path,
    fps: int,
    preflight: list[str],
    cameras: list[CameraConfig],
    extra_features: dict[str, dict[str, Any]],
) -> dict[str, object]:
    """The entry of ``meta/so101/recording.json`` for this deployment: the cameras and extra features as
    ``so101 dataset validate`` checks them, and what ran."""
    import lerobot

    from so101.recording.scene_metadata import workbench_version

    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "workbench_version": workbench_version(),
        "lerobot_version": getattr(lerobot, "__version__", "unknown"),
        "fps": fps,
        "source": "deploy",
        "repo_id": cfg.dataset.repo_id,
        "policy": str(checkpoint),
        "robot": {"type": cfg.robot.type, "port": cfg.robot.port, "id": cfg.robot.id,
                  "use_degrees": cfg.robot.use_degrees,
                  "cameras": {name: str(camera) for name, camera in cfg.robot.cameras.items()}},
        "task": cfg.dataset.task,
        "cameras": [{"name": c.name, "width": c.width, "height": c.height} for c in cameras],
        "extra_features": {key: {**f, "shape": list(f["shape"])} for key, f in extra_features.items()},
        "safety": asdict(cfg.safety),
        "dry_run": cfg.dry_run,
        "allowed": sorted(cfg.allowed),
        "preflight": preflight,
    }  # fmt: skip


def deploy(cfg: DeployConfig) -> int:
    """Body of ``so101 deploy``: 0 when every episode ran, 1 after a safety stop, a lost bus or a release that
    could not be verified, 130 when interrupted (Ctrl-C, SIGTERM, SIGHUP)."""
    from so101.inference.deploy_loop import Deployment
    from so101.inference.deploy_signals import signals_interrupt

    # From the start: a SIGTERM or SIGHUP anywhere (connecting, the preflight) unwinds through the release.
    with signals_interrupt(), Deployment(cfg) as deployment:
        status = deployment.run()
    if deployment.released is not None and not deployment.released.verified:
        return max(status, 1)
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 deploy``; returns the exit status."""
    return run_command("deploy", DeployConfig, deploy, argv)
