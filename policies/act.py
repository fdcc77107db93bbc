"""ACT (LeRobot 0.4.4) for the SO-101 task: configuration presets, construction from a dataset, loading checkpoints.

Nothing here re-implements ACT. What this module adds around LeRobot's ``ACTPolicy``:

* the image resolution the policy sees is a choice of training (default 228x304, 4:3 like the cameras), and the
  resize lives in the checkpoint's preprocessor (LeRobot's own ``ImageCropResizeProcessorStep``), so every
  loader (``ACTPolicy.from_pretrained`` + processors, ``lerobot-eval``, ``lerobot-record``, ``so101 eval``) feeds
  the network exactly what it was trained on, whatever resolution the cameras deliver;
* ImageNet backbone weights are used only when they are already on disk: never a network error;
* ``so101.json`` next to the weights records what the sim must provide (cameras and their recorded size, render
  profile, fps), and ``check_sim_compatibility`` names any mismatch before an evaluation starts.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.scene import ROBOT_CAMERA_NAMES

if TYPE_CHECKING:
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata
    from lerobot.policies.pretrained import PreTrainedPolicy
    from lerobot.processor import PolicyProcessorPipeline

SIDECAR_NAME = "so101.json"
"""Written next to ``config.json`` in every checkpoint this workbench saves."""
STATE_KEY = "observation.state"
ACTION_KEY = "action"
IMAGE_PREFIX = "observation.images."
STATE_DIM = 6
"""The sim's ``observation.state`` and ``action``: 6 joint values in dataset units."""

IMAGENET_STATS = {"mean": [[[0.485]], [[0.456]], [[0.406]]], "std": [[[0.229]], [[0.224]], [[0.225]]]}
"""Image normalisation stats, as ``lerobot-train`` uses by default (``dataset.use_imagenet_stats``)."""


@dataclass
class ActPolicyConfig:
    """The ACT options a user of this workbench tunes; everything else keeps LeRobot's defaults."""

    chunk_size: int = 100
    """Actions predicted per forward pass (control steps, 1/fps s each)."""
    n_action_steps: int = 100
    """Actions of each chunk executed before the policy is queried again (at most ``chunk_size``)."""
    image_height: int = 228
    """Height (pixels) the policy sees; frames are resized to it in training and inference alike."""
    image_width: int = 304
    """Width (pixels) the policy sees. 228x304 keeps the cameras' 4:3 aspect ratio, gives ResNet-18 the same 8x10
    feature map as 240x320, and keeps a 6,559-frame two-camera frame cache at 2.7 GB (240x320: 3.02 GB)."""
    cameras: list[str] = field(default_factory=list)
    """Cameras used as inputs (``overhead_cam``, ``wrist_cam``); empty means every camera of the dataset."""
    dim_model: int = 512
    n_heads: int = 8
    dim_feedforward: int = 3200
    n_encoder_layers: int = 4
    n_decoder_layers: int = 1
    n_vae_encoder_layers: int = 4
    latent_dim: int = 32
    use_vae: bool = True
    kl_weight: float = 10.0
    dropout: float = 0.1
    vision_backbone: str = "resnet18"
    pretrained_backbone: bool = True
    """Start the backbone from ImageNet weights when they are in the torch hub cache (else from scratch, warned)."""
    device: str | None = None
    """``cuda``, ``cpu`` or ``mps``; None picks the best available."""

    def __post_init__(self) -> None:
        if self.n_action_steps > self.chunk_size:
            raise ValueError(
                f"policy.n_action_steps ({self.n_action_steps}) cannot exceed policy.chunk_size ({self.chunk_size})"
            )
        if self.image_height < 32 or self.image_width < 32:
            raise ValueError(f"policy image size {self.image_height}x{self.image_width} is too small (>= 32x32)")
        unknown = [name for name in self.cameras if name not in ROBOT_CAMERA_NAMES]
        if unknown:
            raise ValueError(f"unknown camera(s) {unknown}; choose from {', '.join(ROBOT_CAMERA_NAMES)}")


def backbone_weights_on_disk(backbone: str) -> str | None:
    """The torchvision ImageNet weights name of ``backbone`` if its file is in the torch hub cache, else None."""
    import torch
    import torchvision

    weights_name = f"ResNet{backbone.removeprefix('resnet')}_Weights.IMAGENET1K_V1"
    try:
        url = torchvision.models.get_weight(weights_name).url
    except (ValueError, AttributeError):
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    return weights_name if path.is_file() else None


def pick_device(requested: str | None) -> str:
    import torch

    if requested:
        return requested
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if torch.backends.mps.is_available() else "cpu"


def dataset_cameras(ds_meta: LeRobotDatasetMetadata) -> dict[str, tuple[int, int]]:
    """Camera name -> recorded (height, width) of every image feature of a dataset."""
    cameras = {}
    for key in ds_meta.camera_keys:
        shape = ds_meta.features[key]["shape"]
        names = ds_meta.features[key].get("names") or []
        # LeRobot stores images as (height, width, channels), named so.
        height, width = (shape[0], shape[1]) if not names or names[0] == "height" else (shape[1], shape[2])
        cameras[key.removeprefix(IMAGE_PREFIX)] = (int(height), int(width))
    return cameras


def select_cameras(ds_meta: LeRobotDatasetMetadata, requested: list[str]) -> dict[str, tuple[int, int]]:
    """The cameras to train on (all of the dataset's by default), with their recorded size; clear error if absent."""
    available = dataset_cameras(ds_meta)
    if not available:
        raise ValueError("the dataset has no camera images; ACT here needs at least one camera")
    if not requested:
        return available
    missing = [name for name in requested if name not in available]
    if missing:
        raise ValueError(
            f"camera(s) {missing} are not in the dataset; it has {sorted(available)} (fix --policy.cameras)"
        )
    return {name: available[name] for name in requested}


def make_act_config(options: ActPolicyConfig, ds_meta: LeRobotDatasetMetadata, cameras: list[str]) -> Any:
    """LeRobot ``ACTConfig`` for a dataset: state and the chosen cameras at the training resolution in, action out."""
    features = ds_meta.features
    for key in (STATE_KEY, ACTION_KEY):
        if key not in features:
            raise ValueError(f"the dataset has no {key!r} feature; it has {sorted(features)}")
    return act_config(options, int(features[STATE_KEY]["shape"][0]), int(features[ACTION_KEY]["shape"][0]), cameras)


def act_config(options: ActPolicyConfig, state_dim: int, action_dim: int, cameras: list[str]) -> Any:
    """LeRobot ``ACTConfig``: ``state_dim`` state values and ``cameras`` at the training resolution in, actions out."""
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.act.configuration_act import ACTConfig

    weights = None
    if options.pretrained_backbone:
        weights = backbone_weights_on_disk(options.vision_backbone)
        if weights is None:
            warnings.warn(
                f"ImageNet weights for {options.vision_backbone} are not in the torch hub cache; the backbone starts "
                "from random weights (expect slower learning). To use them, download them once on a machine with "
                f"network access (python -c \"import torchvision; torchvision.models.{options.vision_backbone}"
                "(weights='IMAGENET1K_V1')\") and copy ~/.cache/torch/hub/checkpoints here.",
                stacklevel=2,
            )
    image_shape = (3, options.image_height, options.image_width)
    input_features = {STATE_KEY: PolicyFeature(type=FeatureType.STATE, shape=(state_dim,))}
    for name in cameras:
        input_features[IMAGE_PREFIX + name] = PolicyFeature(type=FeatureType.VISUAL, shape=image_shape)
    output_features = {ACTION_KEY: PolicyFeature(type=FeatureType.ACTION, shape=(action_dim,))}
    return ACTConfig(
        input_features=input_features,
        output_features=output_features,
        device=pick_device(options.device),
        chunk_size=options.chunk_size,
        n_action_steps=options.n_action_steps,
        dim_model=options.dim_model,
        n_heads=options.n_heads,
        dim_feedforward=options.dim_feedforward,
        n_encoder_layers=options.n_encoder_layers,
        n_decoder_layers=options.n_decoder_layers,
        n_vae_encoder_layers=options.n_vae_encoder_layers,
        latent_dim=options.latent_dim,
        use_vae=options.use_vae,
        kl_weight=options.kl_weight,
        dropout=options.dropout,
        vision_backbone=options.vision_backbone,
        pretrained_backbone_weights=weights,
        push_to_hub=False,
    )


def policy_stats(ds_meta: LeRobotDatasetMetadata, policy_config: Any) -> dict[str, dict[str, Any]]:
    """Normalisation stats: the dataset's for state and action, ImageNet's for images (as ``lerobot-train``)."""
    import torch

    stats = {key: dict(value) for key, value in ds_meta.stats.items() if key in (STATE_KEY, ACTION_KEY)}
    for key in policy_config.image_features:
        stats[key] = {name: torch.tensor(value, dtype=torch.float32) for name, value in IMAGENET_STATS.items()}
    return stats


def make_processors(policy_config: Any, stats: dict[str, dict[str, Any]]) -> tuple[Any, Any]:
    """LeRobot's ACT pre/post-processors, with the image resize to the training resolution inserted.

    The resize step runs before normalisation, on the policy's device; at training time the cached frames already
    have that size, so it leaves them unchanged.
    """
    from lerobot.policies.factory import make_pre_post_processors
    from lerobot.processor import ImageCropResizeProcessorStep, NormalizerProcessorStep

    preprocessor, postprocessor = make_pre_post_processors(policy_config, dataset_stats=stats)
    height, width = training_image_size(policy_config)
    position = next(i for i, step in enumerate(preprocessor.steps) if isinstance(step, NormalizerProcessorStep))
    preprocessor.steps.insert(position, ImageCropResizeProcessorStep(resize_size=(height, width)))
    return preprocessor, postprocessor


def training_image_size(policy_config: Any) -> tuple[int, int]:
    """(height, width) of the policy's image inputs."""
    shapes = {tuple(feature.shape) for feature in policy_config.image_features.values()}
    if len(shapes) != 1:
        raise ValueError(f"all image inputs must share one shape, got {sorted(shapes)}")
    _, height, width = shapes.pop()
    return int(height), int(width)


@dataclass
class SimRequirements:
    """What a checkpoint needs from the simulator, read from ``so101.json`` or inferred from ``config.json``."""

    cameras: dict[str, tuple[int, int]]
    """Camera name -> (height, width) the images must be rendered at: the dataset's recorded size."""
    render_profile: str = "fast"
    fps: int = 30
    brick: str = "2x4"

    def to_json(self) -> dict[str, Any]:
        return {
            "cameras": {name: list(size) for name, size in self.cameras.items()},
            "render_profile": self.render_profile,
            "fps": self.fps,
            "brick": self.brick,
        }


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
            warnings.warn(
                f"{ds_meta.root} mixes render profiles {sorted(profiles)} or bricks {sorted(bricks)}; evaluation uses "
                "the first session's",
                stacklevel=2,
            )
        if sessions:
            requirements.render_profile = sessions[0].get("render_profile", "fast")
            requirements.brick = sessions[0].get("scene", {}).get("brick", "2x4")
    return requirements


def write_sidecar(directory: Path, requirements: SimRequirements, extra: dict[str, Any] | None = None) -> None:
    (Path(directory) / SIDECAR_NAME).write_text(json.dumps({**requirements.to_json(), **(extra or {})}, indent=2))


def sim_requirements(pretrained_dir: Path, policy_config: Any) -> SimRequirements:
    """The sim setup a checkpoint expects. Checkpoints of stock ``lerobot-train`` have no ``so101.json``: their
    images were never resized, so the cameras render at the size in ``config.json``."""
    sidecar = Path(pretrained_dir) / SIDECAR_NAME
    if sidecar.is_file():
        data = json.loads(sidecar.read_text())
        return SimRequirements(
            cameras={name: (int(size[0]), int(size[1])) for name, size in data["cameras"].items()},
            render_profile=data.get("render_profile", "fast"),
            fps=int(data.get("fps", 30)),
            brick=data.get("brick", "2x4"),
        )
    cameras = {
        key.removeprefix(IMAGE_PREFIX): (int(feature.shape[1]), int(feature.shape[2]))
        for key, feature in policy_config.image_features.items()
    }
    return SimRequirements(cameras=cameras)


class IncompatibleCheckpointError(ValueError):
    """The checkpoint's inputs or outputs are not what the simulator provides."""


def check_sim_compatibility(policy_config: Any, path: Path | str) -> None:
    """Raise ``IncompatibleCheckpointError`` naming every mismatch between a checkpoint and the sim."""
    problems = []
    for key, feature in policy_config.input_features.items():
        if key.startswith(IMAGE_PREFIX):
            name = key.removeprefix(IMAGE_PREFIX)
            if name not in ROBOT_CAMERA_NAMES:
                problems.append(
                    f"it expects camera {name!r} ({key}); the sim has {', '.join(ROBOT_CAMERA_NAMES)}"
                )
        elif key == STATE_KEY:
            if tuple(feature.shape) != (STATE_DIM,):
                problems.append(
                    f"its {STATE_KEY} has shape {tuple(feature.shape)}; the sim provides ({STATE_DIM},) joint "
                    "positions (was it trained on an end-effector dataset?)"
                )
        else:
            problems.append(f"it expects input {key!r}, which the sim does not provide")
    action = policy_config.output_features.get(ACTION_KEY)
    if action is None or tuple(action.shape) != (STATE_DIM,):
        shape = None if action is None else tuple(action.shape)
        problems.append(
            f"its action has shape {shape}; the sim takes ({STATE_DIM},) joint targets (end-effector actions are not "
            "supported yet)"
        )
    if getattr(policy_config, "n_obs_steps", 1) != 1:
        problems.append(f"it needs n_obs_steps={policy_config.n_obs_steps}; the evaluator feeds one observation")
    if problems:
        raise IncompatibleCheckpointError(
            f"checkpoint {path} does not match the simulator: " + "; ".join(problems)
        )


def resolve_pretrained_dir(path: Path | str) -> Path:
    """``pretrained_model`` directory of a checkpoint given as itself, its step folder, or a run's ``best``."""
    path = Path(path)
    for candidate in (path, path / "pretrained_model"):
        if (candidate / "config.json").is_file() and (candidate / "model.safetensors").is_file():
            return candidate
    raise FileNotFoundError(
        f"{path} is not a checkpoint: expected config.json and model.safetensors in it or in {path / 'pretrained_model'}"
    )


@dataclass
class LoadedPolicy:
    policy: PreTrainedPolicy
    preprocessor: PolicyProcessorPipeline
    postprocessor: PolicyProcessorPipeline
    requirements: SimRequirements
    path: Path


def load_policy(
    path: Path | str,
    device: str | None = None,
    n_action_steps: int | None = None,
    temporal_ensemble_coeff: float | None = None,
) -> LoadedPolicy:
    """Load a checkpoint (ours or stock ``lerobot-train``'s) for inference in the sim.

    The backbone is built without ImageNet weights (the checkpoint overwrites them anyway), so loading never
    reaches for the network. ``n_action_steps`` and ``temporal_ensemble_coeff`` override the saved config.
    """
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors

    pretrained_dir = resolve_pretrained_dir(path)
    config = load_config(pretrained_dir)
    check_sim_compatibility(config, pretrained_dir)
    config.device = pick_device(device)
    if hasattr(config, "pretrained_backbone_weights"):
        config.pretrained_backbone_weights = None
    if temporal_ensemble_coeff is not None:
        config.temporal_ensemble_coeff = temporal_ensemble_coeff
        config.n_action_steps = 1
    elif n_action_steps is not None:
        chunk = getattr(config, "chunk_size", n_action_steps)
        if not 1 <= n_action_steps <= chunk:
            raise ValueError(f"n_action_steps must be within 1..chunk_size ({chunk}), got {n_action_steps}")
        config.n_action_steps = n_action_steps
    policy = get_policy_class(config.type).from_pretrained(pretrained_dir, config=config)
    policy.eval()
    overrides = {"device_processor": {"device": config.device}}
    preprocessor, postprocessor = make_pre_post_processors(
        config, pretrained_path=str(pretrained_dir), preprocessor_overrides=overrides
    )
    logging.getLogger(__name__).debug("loaded %s on %s", pretrained_dir, config.device)
    return LoadedPolicy(policy, preprocessor, postprocessor, sim_requirements(pretrained_dir, config), pretrained_dir)


def load_config(path: Path | str) -> PreTrainedConfig:
    import lerobot.policies  # noqa: F401  (registers the policy config classes, ACT's among them)
    from lerobot.configs.policies import PreTrainedConfig

    return PreTrainedConfig.from_pretrained(resolve_pretrained_dir(path))
