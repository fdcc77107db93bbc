"""``so101 convert-ee``: a joint-space LeRobot dataset -> the same dataset with end-effector actions (and states).

    so101 convert-ee --src.root data/pick --dst.root data/pick_ee --dst.repo_id me/pick_ee
    so101 convert-ee --src.root data/pick --dst.root data/pick_ee6d --state --rotation 6d
    so101 convert-ee --src.root old/so100 --dst.root old/so100_ee --units range_m100_100

The output is a normal LeRobot v3.0 dataset: ``action`` (and with ``--state`` ``observation.state``) hold the TCP
pose in the robot base frame (metres; see ``so101.kinematics.ee_features`` for the layouts) and the gripper in its
dataset unit; the original joints stay as ``joints.action`` (and ``joints.observation.state``). They are not called
``action.joints``: LeRobot takes every feature whose name starts with ``action`` for a policy output and every
``observation.*`` for an input, and the kept joints must be neither. Statistics are computed for every new feature;
videos are copied byte for byte; tasks, episodes, scenes (``meta/so101``) and recording metadata carry over.
``meta/so101/convert_ee.json`` records the layout, TCP, units and model, and the verification report.

Episodes stream one data file at a time (LeRobot bounds a data file's size), the conversion is written into a
hidden folder beside the destination and renamed at the end: an interrupted or failed conversion leaves nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from so101.command import run_command
from so101.errors import DatasetError
from so101.kinematics.ee_features import EELayout, RotationEncoding
from so101.recording.dataset_writer import DatasetRef
from so101.recording.disk_space import tree_bytes
from so101.recording.scene_metadata import META_DIR
from so101.recording.staged_output import StagedOutput

ACTION_KEY, STATE_KEY = "action", "observation.state"
JOINTS_PREFIX = "joints."
"""The original joint features are kept as ``joints.<feature>``."""
REPORT_FILE = META_DIR / "convert_ee.json"


@dataclass
class ConvertEEConfig:
    """Options of ``so101 convert-ee``."""

    src: DatasetRef = field(default_factory=DatasetRef)
    """The joint-space dataset to convert (``--src.root``, or ``--src.repo_id`` in LeRobot's cache)."""
    dst: DatasetRef = field(default_factory=lambda: DatasetRef(repo_id="local/so101_ee"))
    """The end-effector dataset to create (``--dst.root``, a new folder; ``--dst.repo_id``)."""
    state: bool = False
    """Convert ``observation.state`` too (the policy then observes the TCP pose instead of the joints)."""
    rotation: RotationEncoding = "rotvec"
    """Rotation encoding: ``rotvec`` (LeRobot's ee.wx..wz), ``quat`` (ee.qw..qz, sign-continuous) or ``6d``."""
    tcp: str = "gripperframe"
    """The site of the robot model whose pose the features give."""
    units: Literal["auto", "degrees", "range_m100_100"] = "auto"
    """Joint units of the source: ``auto`` detects them from its metadata and value ranges."""
    model: Path | None = None
    """Robot MJCF for the kinematics; default: the one the dataset was recorded with, else the workbench's SO-101."""
    verify: bool = True
    """Solve every converted action back through the IK and report the errors (``--verify false`` skips it)."""

    def __post_init__(self) -> None:
        EELayout(self.rotation, self.tcp)


@dataclass
class ConversionResult:
    root: Path
    episodes: int
    frames: int
    report: dict[str, Any]
    seconds: float


def convert(cfg: ConvertEEConfig) -> ConversionResult:
    """Convert ``cfg.src`` into a new dataset at ``cfg.dst``; returns what was written and the verification."""
    import mujoco

    from so101.kinematics.ee_convert import EEVerifier, JointsToEE, VerificationReport
    from so101.kinematics.units import JointLimits
    from so101.recording.content_hashes import write_all
    from so101.recording.convert_ee_data import DatasetRewriter
    from so101.recording.convert_ee_source import check_units, detect_units, joint_feature, model_path
    from so101.recording.dataset_checks import check_openable
    from so101.recording.video_checks import check_videos

    start = time.perf_counter()
    src = cfg.src.resolved_root()
    # Joint names of older LeRobot versions are accepted here, so the SO-101 feature check is joint_feature's.
    info = check_openable(src, "--src.root", so101_features=False)
    # Videos are copied byte for byte: a damaged one would make a complete-looking dataset that cannot be read.
    check_videos(src, info, "--src.root")
    dst = cfg.dst.resolved_root()
    if dst.exists():
        raise FileExistsError(f"--dst.root {dst} exists; give a new folder (convert-ee never overwrites a dataset)")
    if dst.resolve() == src.resolve():
        raise DatasetError("--dst.root must differ from --src.root")
    keys = [ACTION_KEY] + ([STATE_KEY] if cfg.state else [])
    for key in keys:
        joint_feature(info, key, src)
    path = model_path(src, cfg.model)
    try:
        model = mujoco.MjModel.from_xml_path(str(path))
    except ValueError as error:
        raise DatasetError(f"{path} is not a loadable MJCF ({str(error).splitlines()[0]}); give --model") from error
    limits = JointLimits.from_model(model)
    if cfg.units == "auto":
        decision = detect_units(src, info, keys, limits)
        units, units_reason = decision.units, decision.reason
    else:
        check_units(src, cfg.units)
        units, units_reason = cfg.units, "--units"
    layout = EELayout(cfg.rotation, cfg.tcp)
    try:
        converter = JointsToEE(model, layout, units)
        verifier = EEVerifier(model, layout, units) if cfg.verify else None
    except ValueError as error:
        raise DatasetError(f"--tcp {cfg.tcp}: {error}") from error
    report = VerificationReport()

    def convert_episode(episode_index: int, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for key in keys:
            out[key] = converter.convert(columns[key]).astype(np.float32)
        if verifier is not None:
            first_state = columns[STATE_KEY][0] if STATE_KEY in columns else columns[ACTION_KEY][0]
            report.add(episode_index, verifier.verify(out[ACTION_KEY], columns[ACTION_KEY], first_state))
        return out

    new_features = {key: {"dtype": "float32", "shape": [layout.dim], "names": list(layout.names)} for key in keys}
    conversion = {
        "format": 1,
        "source": {
            "root": str(src), "repo_id": _source_repo_id(cfg.src, src), "total_frames": info.get("total_frames")
        },
        "repo_id": cfg.dst.repo_id,
        "layout": layout.to_json(),
        "frame": "robot base (the model's 'base' body); metres",
        "converted": {key: f"{JOINTS_PREFIX}{key}" for key in keys},
        "units": units,
        "units_reason": units_reason,
        "model": str(path),
    }
    # Written beside dst and renamed into place when complete: a killed conversion leaves no dataset at dst.
    # The videos are copied, the frames rewritten a few columns wider: the source's size.
    output = StagedOutput(dst, "convert-ee", "--dst.root", need=tree_bytes(src))
    with output as temporary:
        rewriter = DatasetRewriter(src, temporary, cfg.dst.repo_id, new_features, JOINTS_PREFIX)
        frames, episodes = rewriter.run(convert_episode, [STATE_KEY] if _has_joint_state(info, src) else [])
        conversion["verification"] = report.to_json() if verifier is not None else None
        (temporary / REPORT_FILE).parent.mkdir(parents=True, exist_ok=True)
        (temporary / REPORT_FILE).write_text(json.dumps(conversion, indent=2))
        write_all(temporary)
        output.commit()
    if verifier is not None:
        for line in report.lines():
            print(line)
    return ConversionResult(dst, episodes, frames, conversion["verification"], time.perf_counter() - start)


def _source_repo_id(ref: DatasetRef, root: Path) -> str | None:
    """The source's repo_id: the one its recording session wrote in ``meta/so101/recording.json``, else
    ``--src.repo_id`` when it named the folder (no ``--src.root``); ``None`` when only a folder was given (the
    option's default would name another dataset)."""
    from so101.recording.scene_metadata import SceneMetadata

    metadata = SceneMetadata(root)
    recorded = [s["repo_id"] for s in metadata.sessions() if s.get("repo_id")] if metadata.exists() else []
    if recorded:
        return str(recorded[0])
    return ref.repo_id if ref.root is None else None


def _has_joint_state(info: dict[str, Any], root: Path) -> bool:
    """``observation.state`` holds the SO-101's joints: the verification then starts from its first frame."""
    from so101.recording.convert_ee_source import joint_feature

    try:
        joint_feature(info, STATE_KEY, root)
    except DatasetError:
        return False
    return True


def _convert_command(cfg: ConvertEEConfig) -> int:
    result = convert(cfg)
    failures = "" if result.report is None else f"; {result.report['ik_failures']} IK failures"
    print(
        f"convert-ee: {result.episodes} episodes, {result.frames} frames -> {result.root} "
        f"({cfg.rotation}, TCP {cfg.tcp}) in {result.seconds:.1f} s{failures}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 convert-ee``."""
    return run_command("convert-ee", ConvertEEConfig, _convert_command, argv)
