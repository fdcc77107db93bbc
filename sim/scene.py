"""Assembling the pick-and-place scene: table, SO-101 arm, Duplo brick, bowl and cameras.

The arm comes from any SO-101 MJCF with LeRobot's joint names and a ``gripperframe`` site (ours by default,
TheRobotStudio's official model works too); it is attached to the table with ``mujoco.MjSpec``. The wrist camera
is added here rather than in the arm's file so that every arm model gets the same one.

World frame: origin on the table top at the arm's base, +x forward, +z up; metres.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import mujoco
import numpy as np

from so101.errors import ConfigError
from so101.kinematics.pose import quat_from_xyaxes
from so101.kinematics.units import JOINT_NAMES, JointLimits
from so101.sim.paths import ASSETS_DIR, ROBOT_XML, SCENE_XML

BrickSize = Literal["2x4", "2x2"]
BRICK_SIZES: tuple[str, ...] = ("2x4", "2x2")

ROBOT_CAMERA_NAMES: tuple[str, ...] = ("overhead_cam", "wrist_cam", "front_cam")

# Wrist camera pose in the frame of the body that carries `gripperframe`: behind the fixed jaw, looking along the
# fingers, where the SO-101 wrist-camera mount holds the camera module.
_WRIST_CAM_POS = (-0.05, 0.0, -0.055)
_WRIST_CAM_XYAXES = (0.0, 1.0, 0.0, -0.894, 0.0, -0.447)
_WRIST_CAM_FOVY_DEG = 75.0


@dataclass
class CameraConfig:
    """One robot camera: a camera of the scene (``overhead_cam``, ``wrist_cam``, ``front_cam``) and its image size."""

    name: str = "overhead_cam"
    width: int = 640
    height: int = 480

    def __post_init__(self) -> None:
        if self.name not in ROBOT_CAMERA_NAMES:
            raise ValueError(f"unknown camera {self.name!r}; the scene has {', '.join(ROBOT_CAMERA_NAMES)}")
        if self.width < 16 or self.height < 16:
            raise ValueError(f"camera {self.name!r}: {self.width}x{self.height} is too small (at least 16x16)")


def default_cameras() -> list[CameraConfig]:
    return [CameraConfig("overhead_cam"), CameraConfig("wrist_cam")]


@dataclass
class SceneConfig:
    """What the scene is made of. Randomized placements are a separate concern (``so101.sim.randomization``)."""

    robot_xml: Path | None = None
    """Another SO-101 MJCF to use instead of the workbench's own (same joint names, a ``gripperframe`` site)."""
    brick: BrickSize = "2x4"
    fps: int = 30
    """Control rate (Hz): one action, one observation, one recorded frame per 1/fps s of sim time."""
    physics_dt: float = 0.002
    """Nominal physics step (s); shortened so that 1/fps is a whole number of steps."""

    def __post_init__(self) -> None:
        if self.brick not in BRICK_SIZES:
            raise ConfigError("scene.brick", self.brick, f"must be {' or '.join(BRICK_SIZES)}")
        if self.fps <= 0:
            raise ConfigError("scene.fps", self.fps, "must be positive")
        if self.robot_xml is not None and Path(self.robot_xml).is_dir():
            raise ConfigError("scene.robot_xml", self.robot_xml, "is a folder: pass the SO-101 MJCF file inside it")
        if self.robot_xml is not None and not Path(self.robot_xml).is_file():
            raise FileNotFoundError(
                f"robot model {self.robot_xml} does not exist; pass the path of an SO-101 MJCF file"
            )

    @property
    def substeps(self) -> int:
        """Physics steps per control step."""
        return max(1, round(1.0 / (self.fps * self.physics_dt)))

    @property
    def timestep(self) -> float:
        """The physics step actually used (s): exactly 1/(fps * substeps)."""
        return 1.0 / (self.fps * self.substeps)


@dataclass
class SceneModel:
    """A compiled scene and the indices that the simulator, the task signals and the kinematics need."""

    model: mujoco.MjModel
    config: SceneConfig
    robot_xml: Path
    joint_qpos_adr: np.ndarray
    """qpos addresses of the six arm joints, LeRobot order."""
    actuator_ids: np.ndarray
    """Position actuators of the six joints, LeRobot order."""
    limits: JointLimits
    brick_body: int
    brick_qpos_adr: int
    """Address of the brick's free joint in qpos: 3 position + 4 quaternion values."""
    bowl_body: int
    gripper_site: int
    jaw_bodies: tuple[int, int]
    """(fixed jaw, moving jaw): the body carrying ``gripperframe`` and the body moved by the ``gripper`` joint."""
    brick_half_size: np.ndarray = field(default_factory=lambda: np.zeros(3))
    """Half extents (m) of the brick's main block, without studs."""

    @property
    def n_substeps(self) -> int:
        return self.config.substeps


BOWL_INNER_RADIUS = 0.070
"""Radius (m) inside the bowl's rim: a brick whose centre is within it lies in the bowl."""
BOWL_RIM_HEIGHT = 0.052
"""Height (m) of the rim above the bowl's underside."""
BOWL_OUTER_RADIUS = 0.076


def build_scene(config: SceneConfig | None = None) -> SceneModel:
    """Compile the scene: the table of ``assets/scene.xml`` with the arm, brick, bowl and wrist camera attached."""
    config = config or SceneConfig()
    robot_xml = Path(config.robot_xml) if config.robot_xml is not None else ROBOT_XML
    spec = mujoco.MjSpec.from_file(str(SCENE_XML))
    spec.option.timestep = config.timestep

    try:
        robot = mujoco.MjSpec.from_file(str(robot_xml))
    except ValueError as error:  # MuJoCo's parser: not an MJCF file, or a broken one
        message = " ".join(str(error).split())
        raise ConfigError("scene.robot_xml", robot_xml, f"must be a model MuJoCo can load ({message})") from error
    _check_robot_spec(robot, robot_xml)
    brick = mujoco.MjSpec.from_file(str(ASSETS_DIR / f"duplo_{config.brick}.xml"))
    bowl = mujoco.MjSpec.from_file(str(ASSETS_DIR / "bowl.xml"))
    with unprefixed_attach():
        spec.attach(robot, frame="robot_mount", prefix="")
        spec.attach(brick, frame=spec.worldbody.add_frame(name="brick_spawn"), prefix="")
        spec.attach(bowl, frame=spec.worldbody.add_frame(name="bowl_spawn"), prefix="")

    gripper_body = spec.site("gripperframe").parent
    gripper_body.add_camera(
        name="wrist_cam",
        pos=_WRIST_CAM_POS,
        quat=quat_from_xyaxes(np.array(_WRIST_CAM_XYAXES)),
        fovy=_WRIST_CAM_FOVY_DEG,
    )
    try:
        with unprefixed_attach():
            model = spec.compile()
    except ValueError as error:  # MuJoCo's compiler: a mesh or texture the arm's file names is missing or broken
        if config.robot_xml is None:
            raise
        message = " ".join(str(error).split())
        raise ConfigError(
            "scene.robot_xml", robot_xml,
            f"does not compile ({message}): check that the meshes and textures it names exist (its meshdir and "
            "assetdir are relative to the file), or leave the option out for the workbench's own model",
        ) from error  # fmt: skip
    return _index_scene(model, config, robot_xml)


@contextmanager
def unprefixed_attach() -> Iterator[None]:
    """Silence MuJoCo's warning about empty attach prefixes.

    Names must stay bare: LeRobot's joint names are how every part of the workbench finds the joints, and
    the scene's names never clash with the arm's. We never save the composed model back to XML.
    """
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(lambda _message: None)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Attaching a spec with an empty prefix")
            yield
    finally:
        mujoco.set_mju_user_warning(previous)


def _check_robot_spec(robot: mujoco.MjSpec, path: Path) -> None:
    """Refuse an arm model the workbench cannot drive, naming what it lacks and the fix (``--scene.robot_xml``)."""

    joint_names = {joint.name for joint in robot.joints}
    missing = [name for name in JOINT_NAMES if name not in joint_names]
    if missing:
        raise ConfigError(
            "scene.robot_xml", path,
            f"is not an SO-101 model the workbench can drive: it lacks the joints {missing} (it needs "
            f"{', '.join(JOINT_NAMES)}); pass an SO-101 MJCF with LeRobot's joint names, or leave the option out for "
            "the workbench's own model",
        )  # fmt: skip
    if robot.site("gripperframe") is None:
        raise ConfigError(
            "scene.robot_xml", path,
            "has no site named 'gripperframe'; add one between the fingertips of the fixed jaw's body (the tool "
            "centre point), or leave the option out for the workbench's own model",
        )  # fmt: skip


def _index_scene(model: mujoco.MjModel, config: SceneConfig, robot_xml: Path) -> SceneModel:

    def obj_id(kind: mujoco.mjtObj, name: str) -> int:
        index = mujoco.mj_name2id(model, kind, name)
        if index < 0:
            raise ValueError(f"the scene has no {kind.name.removeprefix('mjOBJ_').lower()} named {name!r}")
        return index

    joints = [obj_id(mujoco.mjtObj.mjOBJ_JOINT, name) for name in JOINT_NAMES]
    actuators = []
    for joint in joints:
        driving = np.flatnonzero((model.actuator_trnid[:, 0] == joint) & (model.actuator_trntype == 0))
        if driving.size != 1:
            # The joints come from the robot MJCF (checked before): a missing actuator is the user's model's.
            raise ConfigError(
                "scene.robot_xml", robot_xml,
                f"has {driving.size} actuators on joint {model.joint(joint).name!r}; it needs exactly one <position> "
                "actuator: add it to the robot MJCF, or leave the option out for the workbench's own model",
            )  # fmt: skip
        actuators.append(int(driving[0]))
    brick_body = obj_id(mujoco.mjtObj.mjOBJ_BODY, "brick")
    gripper_site = obj_id(mujoco.mjtObj.mjOBJ_SITE, "gripperframe")
    moving_jaw = int(model.jnt_bodyid[joints[JOINT_NAMES.index("gripper")]])
    brick_block = obj_id(mujoco.mjtObj.mjOBJ_GEOM, "brick_block")
    return SceneModel(
        model=model,
        config=config,
        robot_xml=robot_xml,
        joint_qpos_adr=model.jnt_qposadr[joints].copy(),
        actuator_ids=np.asarray(actuators),
        limits=JointLimits.from_model(model),
        brick_body=brick_body,
        brick_qpos_adr=int(model.jnt_qposadr[obj_id(mujoco.mjtObj.mjOBJ_JOINT, "brick_joint")]),
        bowl_body=obj_id(mujoco.mjtObj.mjOBJ_BODY, "bowl"),
        gripper_site=gripper_site,
        jaw_bodies=(int(model.site_bodyid[gripper_site]), moving_jaw),
        brick_half_size=model.geom_size[brick_block].copy(),
    )
