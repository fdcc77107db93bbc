"""Checkpoints of policies for the sim: what a checkpoint needs from the simulator, checks, and loading.

``so101.json`` next to a checkpoint's weights records what the sim must provide (cameras and their recorded size,
render profile, fps, brick) and the policy's spaces: ``action_space`` and ``state_space`` are ``joint`` or ``ee``
(end-effector, in the ``ee_layout`` recorded beside them: rotation encoding and TCP site). Checkpoints of stock
``lerobot-train`` lack it: their needs are read from their ``config.json``, and their spaces from the feature names
of the dataset their ``train_config.json`` names, else from the action and state sizes (6 joints; 7, 8 or 10 for the
rotvec, quat and 6d layouts). ``check_sim_compatibility`` names every mismatch before an evaluation starts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from so101.errors import CheckpointError
from so101.kinematics.ee_features import EELayout
from so101.policies.act import ACTION_KEY, IMAGE_PREFIX, STATE_DIM, STATE_KEY, pick_device
from so101.policies.safetensors_file import safetensors_problem
from so101.sim.environment_state import ENVIRONMENT_STATE_KEY, ENVIRONMENT_STATE_NAMES
from so101.sim.scene import BRICK_SIZES, ROBOT_CAMERA_NAMES

if TYPE_CHECKING:
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata
    from lerobot.policies.pretrained import PreTrainedPolicy
    from lerobot.processor import PolicyProcessorPipeline

SIDECAR_NAME = "so101.json"
"""Written next to ``config.json`` in every checkpoint this workbench saves."""

log = logging.getLogger(__name__)


@dataclass
class SimRequirements:
    """What a checkpoint needs from the simulator, read from ``so101.json`` or inferred from ``config.json``."""

    cameras: dict[str, tuple[int, int]]
    """Camera name -> (height, width) the images must be rendered at: the dataset's recorded size."""
    render_profile: str = "fast"
    """Render profile the dataset was recorded in (``fast`` or ``quality``)."""
    fps: int = 30
    """Control rate (Hz) of the dataset."""
    brick: str = "2x4"
    """Duplo brick of the dataset's scenes."""
    action_space: str = "joint"
    """``joint``: the policy outputs joint targets (dataset units); ``ee``: end-effector poses in ``ee_layout``, which
    go through the IK (``so101.kinematics.ee_action.EEActionAdapter``) to the arm."""
    state_space: str = "joint"
    """``joint``: ``observation.state`` is the joint positions; ``ee``: the TCP pose in ``ee_layout``."""
    ee_layout: EELayout | None = None
    """Layout of the end-effector features (rotation encoding, TCP site); None when both spaces are joints."""
    environment_state: bool = False
    """The policy observes ``observation.environment_state`` (``so101.sim.environment_state``), perhaps without
    cameras."""

    def to_json(self) -> dict[str, Any]:
        return {
            "cameras": {name: list(size) for name, size in self.cameras.items()},
            "render_profile": self.render_profile,
            "fps": self.fps,
            "brick": self.brick,
            "action_space": self.action_space,
            "state_space": self.state_space,
            "ee_layout": None if self.ee_layout is None else self.ee_layout.to_json(),
            "environment_state": self.environment_state,
        }

    def set_spaces(self, action_names: list[str], state_names: list[str], tcp: str) -> None:
        """Read the spaces from a dataset's ``action`` and ``observation.state`` feature names."""
        for attribute, names in (("action_space", action_names), ("state_space", state_names)):
            layout = EELayout.from_names(names, tcp)
            if layout is not None:
                setattr(self, attribute, "ee")
                self.ee_layout = layout


def dataset_tcp(root: Path) -> str:
    """The TCP site of an end-effector dataset (``meta/so101/convert_ee.json``), else ``gripperframe``."""
    conversion = Path(root) / "meta" / "so101" / "convert_ee.json"
    if conversion.is_file():
        return json.loads(conversion.read_text())["layout"]["tcp"]
    return EELayout.tcp


def dataset_requirements(ds_meta: LeRobotDatasetMetadata, cameras: dict[str, tuple[int, int]]) -> SimRequirements:
    """The sim setup a dataset was recorded with: ``meta/so101/recording.json`` (written by ``so101 record``) when
    present, else the fast profile and the 2x4 brick."""
    recording = Path(ds_meta.root) / "meta" / "so101" / "recording.json"
    requirements = SimRequirements(cameras=dict(cameras), fps=int(ds_meta.fps))
    if recording.is_file():
        sessions = json.loads(recording.read_text()).get("sessions", [])
        profiles = {session.get("render_profile", "fast") for session in sessions}
        bricks = {session.get("scene", {}).get("brick", "2x4") for session in sessions}
        if len(profiles) > 1 or len(bricks) > 1:
            log.warning(
                "warning: %s mixes render profiles %s or bricks %s; evaluation uses the first session's",
                ds_meta.root, sorted(profiles), sorted(bricks),
            )  # fmt: skip
        if sessions:
            requirements.render_profile = sessions[0].get("render_profile", "fast")
            requirements.brick = sessions[0].get("scene", {}).get("brick", "2x4")
    features = ds_meta.features
    requirements.set_spaces(
        list(features[ACTION_KEY].get("names") or []),
        list(features.get(STATE_KEY, {}).get("names") or []),
        dataset_tcp(Path(ds_meta.root)),
    )
    return requirements


def write_sidecar(directory: Path, requirements: SimRequirements, extra: dict[str, Any] | None = None) -> None:
    """Write ``so101.json`` (the requirements, plus ``extra`` facts such as the dataset and step) into a checkpoint."""
    (Path(directory) / SIDECAR_NAME).write_text(json.dumps({**requirements.to_json(), **(extra or {})}, indent=2))


def sim_requirements(pretrained_dir: Path, policy_config: Any) -> SimRequirements:
    """The sim setup a checkpoint expects. Checkpoints of stock ``lerobot-train`` have no ``so101.json``: their
    images were never resized, so the cameras render at the size in ``config.json``."""
    sidecar = Path(pretrained_dir) / SIDECAR_NAME
    if sidecar.is_file():
        try:
            data = json.loads(sidecar.read_text())
            layout = data.get("ee_layout")
            requirements = SimRequirements(
                cameras={str(name): (int(size[0]), int(size[1])) for name, size in data["cameras"].items()},
                render_profile=str(data.get("render_profile", "fast")),
                fps=int(data.get("fps", 30)),
                brick=str(data.get("brick", "2x4")),
                action_space=str(data.get("action_space", "joint")),
                state_space=str(data.get("state_space", "joint")),
                ee_layout=None if layout is None else EELayout.from_json(layout),
                environment_state=bool(data.get("environment_state", False)),
            )
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
            raise CheckpointError(
                f"{sidecar} is not the workbench's {SIDECAR_NAME} ({_first_line(err)}: it records cameras with their "
                f"[height, width], fps, render_profile and brick); copy the checkpoint whole from its run, or move "
                f"{SIDECAR_NAME} out of the folder to evaluate with the needs in config.json"
            ) from err
        spaces = (requirements.action_space, requirements.state_space)
        if not set(spaces) <= {"joint", "ee"} or ("ee" in spaces and requirements.ee_layout is None):
            raise CheckpointError(
                f"{sidecar} records action_space {spaces[0]!r} and state_space {spaces[1]!r} (each 'joint' or 'ee'; "
                f"'ee' needs an ee_layout); copy the checkpoint whole from its run"
            )
        no_inputs = not requirements.cameras and not requirements.environment_state
        if requirements.fps < 1 or no_inputs or requirements.brick not in BRICK_SIZES:
            raise CheckpointError(
                f"{sidecar} records fps {requirements.fps}, cameras {list(requirements.cameras)} and brick "
                f"{requirements.brick!r}, which no recording has (fps >= 1, one camera or more or the environment "
                f"state, brick {' or '.join(BRICK_SIZES)}); copy the checkpoint whole from its run"
            )
        return requirements
    cameras = {
        key.removeprefix(IMAGE_PREFIX): (int(feature.shape[1]), int(feature.shape[2]))
        for key, feature in policy_config.image_features.items()
    }
    requirements = SimRequirements(cameras=cameras)
    _infer_spaces(requirements, Path(pretrained_dir), policy_config)
    return requirements


def _infer_spaces(requirements: SimRequirements, pretrained_dir: Path, policy_config: Any) -> None:
    """Spaces of a stock checkpoint: from the feature names of its training dataset when that is here, else from
    the action and state sizes."""
    train_config = pretrained_dir / "train_config.json"
    if train_config.is_file():
        root = json.loads(train_config.read_text()).get("dataset", {}).get("root")
        info = Path(root) / "meta" / "info.json" if root else None
        if info is not None and info.is_file():
            features = json.loads(info.read_text())["features"]
            requirements.set_spaces(
                list(features.get(ACTION_KEY, {}).get("names") or []),
                list(features.get(STATE_KEY, {}).get("names") or []),
                dataset_tcp(Path(root)),
            )
            return
    for attribute, feature in (
        ("action_space", policy_config.output_features.get(ACTION_KEY)),
        ("state_space", policy_config.input_features.get(STATE_KEY)),
    ):
        layout = None if feature is None else EELayout.from_dim(int(feature.shape[0]))
        if layout is not None:
            setattr(requirements, attribute, "ee")
            requirements.ee_layout = layout


class IncompatibleCheckpointError(CheckpointError):
    """The checkpoint's inputs or outputs are not what the simulator provides (one line naming every mismatch)."""


def check_sim_compatibility(policy_config: Any, path: Path | str) -> None:
    """Raise ``IncompatibleCheckpointError`` naming every mismatch between a checkpoint and the sim.

    When ``path`` is the checkpoint's folder, its state and action sizes must also be those of the spaces it records
    (or that are inferred for it): 6 joints, or the dimension of its end-effector layout."""
    requirements = sim_requirements(Path(path), policy_config) if Path(path).is_dir() else None
    problems = []
    for key, feature in policy_config.input_features.items():
        if key.startswith(IMAGE_PREFIX):
            name = key.removeprefix(IMAGE_PREFIX)
            if name not in ROBOT_CAMERA_NAMES:
                problems.append(
                    f"it expects camera {name!r} ({key}); the sim has {', '.join(ROBOT_CAMERA_NAMES)}"
                )
        elif key == STATE_KEY:
            space = None if requirements is None else requirements.state_space
            if not _fits(feature.shape, space, requirements):
                problems.append(f"its {STATE_KEY} has shape {tuple(feature.shape)}; {_expected(space, 'state')}")
        elif key == ENVIRONMENT_STATE_KEY:
            if tuple(feature.shape) != (len(ENVIRONMENT_STATE_NAMES),):
                problems.append(
                    f"its {key} has shape {tuple(feature.shape)}; the sim provides ({len(ENVIRONMENT_STATE_NAMES)},)"
                )
        else:
            problems.append(f"it expects input {key!r}, which the sim does not provide")
    action = policy_config.output_features.get(ACTION_KEY)
    space = None if requirements is None else requirements.action_space
    if action is None or not _fits(action.shape, space, requirements):
        shape = None if action is None else tuple(action.shape)
        problems.append(f"its action has shape {shape}; {_expected(space, 'action')}")
    if getattr(policy_config, "n_obs_steps", 1) != 1:
        problems.append(f"it needs n_obs_steps={policy_config.n_obs_steps}; the evaluator feeds one observation")
    if problems:
        raise IncompatibleCheckpointError(
            f"checkpoint {path} does not match the simulator: " + "; ".join(problems)
        )


_EE_DIMS = "/".join(str(EELayout(rotation).dim) for rotation in ("rotvec", "quat", "6d"))


def _fits(shape: Any, space: str | None, requirements: SimRequirements | None) -> bool:
    """The shape is the 6 joints or an end-effector layout's; with a known space, exactly that space's."""
    shape = tuple(shape)
    if space is None or requirements is None:
        return shape == (STATE_DIM,) or (len(shape) == 1 and EELayout.from_dim(int(shape[0])) is not None)
    if space == "ee" and requirements.ee_layout is not None:
        return shape == (requirements.ee_layout.dim,)
    return shape == (STATE_DIM,)


def _expected(space: str | None, what: str) -> str:
    joints = "joint positions" if what == "state" else "joint targets"
    if space is None:
        return f"the sim works with ({STATE_DIM},) {joints} or end-effector poses of {_EE_DIMS} values"
    return f"its so101.json or dataset says its {what} space is {space!r}, which has " + (
        f"({STATE_DIM},) {joints}" if space == "joint" else "the size of its end-effector layout"
    )


def resolve_pretrained_dir(path: Path | str) -> Path:
    """``pretrained_model`` directory of a checkpoint given as itself, its step folder, or a run's ``best``."""
    path = Path(path)
    for candidate in (path, path / "pretrained_model"):
        if (candidate / "config.json").is_file() and (candidate / "model.safetensors").is_file():
            return candidate
    for candidate in (path, path / "pretrained_model"):
        for present, absent in (("config.json", "model.safetensors"), ("model.safetensors", "config.json")):
            if (candidate / present).is_file():
                raise FileNotFoundError(
                    f"{candidate} holds {present} but no {absent}: the checkpoint is incomplete; copy it whole "
                    "from its run (checkpoints/NNNNNN/pretrained_model)"
                )
    raise FileNotFoundError(
        f"{path} is not a checkpoint: expected config.json and model.safetensors in it or in "
        f"{path / 'pretrained_model'}"
    )


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def check_checkpoint_files(pretrained_dir: Path) -> None:
    """Raise ``CheckpointError`` naming the file, if a checkpoint's ``config.json`` is not a JSON ACT config, its
    weights are not a whole safetensors file, or its processor files are missing: before anything loads them."""
    config_path = pretrained_dir / "config.json"
    try:
        config = json.loads(config_path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(
            f"{config_path} is not valid JSON ({_first_line(err)}); the checkpoint is damaged: copy it again from "
            "its run, or evaluate another checkpoint"
        ) from err
    kind = config.get("type") if isinstance(config, dict) else None
    if kind != "act":
        raise IncompatibleCheckpointError(
            f"{config_path} describes a {kind!r} policy; the workbench loads ACT checkpoints (type 'act'), as "
            "so101 train and lerobot-train --policy.type=act save them"
        )
    problem = safetensors_problem(pretrained_dir / "model.safetensors")
    if problem:
        raise CheckpointError(f"{problem}; the checkpoint is damaged: copy it again from its run, or evaluate another")
    for name in ("policy_preprocessor.json", "policy_postprocessor.json"):
        if not (pretrained_dir / name).is_file():
            raise FileNotFoundError(
                f"{pretrained_dir / name} is missing: the checkpoint lacks its normalisation (LeRobot 0.4 saves it "
                "next to the weights); copy the checkpoint whole from its run"
            )


@dataclass
class LoadedPolicy:
    """A checkpoint loaded for inference: the policy in eval mode on its device, with its processors."""

    policy: PreTrainedPolicy
    preprocessor: PolicyProcessorPipeline
    """Batches, resizes and normalises observations, and moves them to the policy's device."""
    postprocessor: PolicyProcessorPipeline
    """Unnormalises actions back to dataset units, on the CPU."""
    requirements: SimRequirements
    path: Path
    """The checkpoint's ``pretrained_model`` directory."""


def load_policy(
    path: Path | str, device: str | None = None, n_action_steps: int | None = None,
    temporal_ensemble_coeff: float | None = None,
) -> LoadedPolicy:
    """Load a checkpoint (ours or stock ``lerobot-train``'s) for inference in the sim.

    The backbone is built without ImageNet weights (the checkpoint overwrites them), so loading never reaches for the
    network; ``n_action_steps`` and ``temporal_ensemble_coeff`` override the saved config. Weights load as LeRobot
    0.4.4's ``from_pretrained`` loads a folder (safetensors' ``load_model``, not strict), without its every-load
    ``print`` "Loading weights from local directory"."""
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors
    from safetensors.torch import load_model

    pretrained_dir = resolve_pretrained_dir(path)
    config = load_config(pretrained_dir)
    check_sim_compatibility(config, pretrained_dir)
    config.device = pick_device(device)
    if hasattr(config, "pretrained_backbone_weights"):
        config.pretrained_backbone_weights = None
    apply_inference_overrides(config, n_action_steps, temporal_ensemble_coeff)
    try:
        policy = get_policy_class(config.type)(config)
        load_model(policy, str(pretrained_dir / "model.safetensors"), strict=False, device=config.device)
    except RuntimeError as err:  # torch's load_state_dict: the weights do not fit the model config.json describes
        mismatch = next((line.strip() for line in str(err).splitlines() if "mismatch" in line or "key" in line),
                        _first_line(err))
        raise IncompatibleCheckpointError(
            f"{pretrained_dir / 'model.safetensors'} does not fit the model of its config.json ({mismatch}); the "
            "weights and the config come from different checkpoints: copy the checkpoint whole from its run"
        ) from err
    policy.to(config.device).eval()
    overrides = {"device_processor": {"device": config.device}}
    preprocessor, postprocessor = make_pre_post_processors(
        config, pretrained_path=str(pretrained_dir), preprocessor_overrides=overrides
    )
    log.debug("loaded %s on %s", pretrained_dir, config.device)
    return LoadedPolicy(policy, preprocessor, postprocessor, sim_requirements(pretrained_dir, config), pretrained_dir)


def apply_inference_overrides(
    config: PreTrainedConfig, n_action_steps: int | None = None, temporal_ensemble_coeff: float | None = None
) -> None:
    """Set a loaded policy config's ``n_action_steps`` or ACT's ``temporal_ensemble_coeff`` (which implies one
    action per call); None keeps the saved value.

    Raises:
        CheckpointError: ``n_action_steps`` outside 1..chunk_size.
    """
    if temporal_ensemble_coeff is not None:
        config.temporal_ensemble_coeff = temporal_ensemble_coeff
        config.n_action_steps = 1
    elif n_action_steps is not None:
        chunk = getattr(config, "chunk_size", n_action_steps)
        if not 1 <= n_action_steps <= chunk:
            raise CheckpointError(f"--n_action_steps must be within 1..chunk_size ({chunk}), got {n_action_steps}")
        config.n_action_steps = n_action_steps


def load_config(path: Path | str) -> PreTrainedConfig:
    """The saved LeRobot policy config of a checkpoint."""
    import draccus
    import lerobot.policies  # noqa: F401  (registers the policy config classes, ACT's among them)
    from lerobot.configs.policies import PreTrainedConfig

    pretrained_dir = resolve_pretrained_dir(path)
    check_checkpoint_files(pretrained_dir)
    try:
        return PreTrainedConfig.from_pretrained(pretrained_dir)
    except (draccus.utils.ParsingError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"{pretrained_dir / 'config.json'} is not an ACT config LeRobot {_lerobot_version()} can read "
            f"({_first_line(err)}); use a checkpoint saved by so101 train or this LeRobot's lerobot-train"
        ) from err


def _lerobot_version() -> str:
    from importlib.metadata import version

    return version("lerobot")
