"""ACT (LeRobot 0.4.4) for the SO-101 task: configuration presets and construction from a dataset.

Nothing here re-implements ACT. What this module adds around LeRobot's ``ACTPolicy``:

* the image resolution the policy sees is a choice of training (default 228x304, 4:3 like the cameras), and the
  resize lives in the checkpoint's preprocessor (LeRobot's own ``ImageCropResizeProcessorStep``), so every
  loader (``ACTPolicy.from_pretrained`` + processors, ``lerobot-eval``, ``lerobot-record``, ``so101 eval``) feeds
  the network exactly what it was trained on, whatever resolution the cameras deliver;
* ImageNet backbone weights are used only when they are already on disk: never a network error (a missing file
  is reported as one warning line);
* checkpoints are saved and loaded by ``so101.policies.checkpoint``, which also records and checks what the sim must
  provide.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from so101.errors import ConfigError, DatasetError
from so101.sim.environment_state import ENVIRONMENT_STATE_KEY
from so101.sim.scene import ROBOT_CAMERA_NAMES

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

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
    use_images: bool = True
    """Observe camera images; false trains a policy on states alone (with ``environment_state``: a privileged
    policy that separates control from vision)."""
    environment_state: bool = False
    """Observe ``observation.environment_state``, the brick's and bowl's poses (datasets recorded with
    ``so101 record --environment_state``): privileged information, so such a policy runs in the simulator only."""
    dim_model: int = 512
    """Width of the transformer (features per token)."""
    n_heads: int = 8
    """Attention heads per transformer layer (must divide dim_model)."""
    dim_feedforward: int = 3200
    """Width of the transformer's feed-forward layers."""
    n_encoder_layers: int = 4
    """Transformer encoder layers."""
    n_decoder_layers: int = 1
    """Transformer decoder layers (ACT's original code uses only the first of its 7)."""
    n_vae_encoder_layers: int = 4
    """Layers of the VAE encoder that encodes action chunks into the style latent (training only)."""
    latent_dim: int = 32
    """Size of the VAE's style latent."""
    use_vae: bool = True
    """Train with the variational objective (the latent is zero at inference)."""
    kl_weight: float = 10.0
    """Weight of the KL-divergence term of the loss."""
    dropout: float = 0.1
    """Dropout in the transformer layers."""
    vision_backbone: str = "resnet18"
    """torchvision ResNet that encodes each camera image."""
    pretrained_backbone: bool = True
    """Start the backbone from ImageNet weights when they are in the torch hub cache (else from scratch, warned)."""
    calibrate_backbone: bool = False
    """When the backbone starts from random weights, set its frozen batch norms' statistics from the first training
    batch (``so101.policies.backbone_calibration``); false keeps LeRobot's identity statistics. Its effect on
    learning is not measured yet (docs/results/learning-study.md)."""
    backbone_weights: str | None = None
    """Start the backbone from this file of ``so101 pretrain-encoder`` (made at the same image size) instead of
    ImageNet's or random weights (``so101.policies.pretrained_backbone``)."""
    freeze_backbone: bool = False
    """Keep the backbone's weights fixed in training (with ``backbone_weights``): each step costs its forward pass
    only, and what it learned of the scene stays."""
    device: str | None = None
    """``cuda``, ``cpu`` or ``mps``; None picks the best available."""

    def __post_init__(self) -> None:
        if self.n_action_steps > self.chunk_size:
            raise ValueError(
                f"policy.n_action_steps ({self.n_action_steps}) cannot exceed policy.chunk_size ({self.chunk_size})"
            )
        if self.image_height < 32 or self.image_width < 32:
            raise ValueError(f"policy image size {self.image_height}x{self.image_width} is too small (>= 32x32)")
        if not self.use_images and not self.environment_state:
            raise ConfigError(("policy.use_images", "policy.environment_state"), (False, False),
                              "cannot both be false: ACT observes images, the environment state or both", "false")
        if self.freeze_backbone and not self.backbone_weights:
            raise ConfigError("policy.freeze_backbone", True, "needs --policy.backbone_weights (a frozen random or "
                              "ImageNet backbone has not learned this scene)", "false")
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


def select_cameras(
    ds_meta: LeRobotDatasetMetadata, requested: list[str], use_images: bool = True
) -> dict[str, tuple[int, int]]:
    """The cameras to train on (all of the dataset's by default, none without ``use_images``), with their recorded
    size; clear error if absent."""
    if not use_images:
        return {}
    available = dataset_cameras(ds_meta)
    if not available:
        raise DatasetError("the dataset has no camera images; ACT here needs at least one camera (record with cameras)")
    if not requested:
        return available
    missing = [name for name in requested if name not in available]
    if missing:
        raise ConfigError("policy.cameras", missing, f"must be cameras of the dataset: {sorted(available)}")
    return {name: available[name] for name in requested}


def make_act_config(options: ActPolicyConfig, ds_meta: LeRobotDatasetMetadata, cameras: list[str]) -> Any:
    """LeRobot ``ACTConfig`` for a dataset: state and the chosen cameras at the training resolution in, action out."""
    features = ds_meta.features
    for key in (STATE_KEY, ACTION_KEY):
        if key not in features:
            raise DatasetError(
                f"the dataset has no {key!r} feature (it has {sorted(features)}); train on a joint-space dataset "
                "recorded by so101 record"
            )
    environment_dim = None
    if options.environment_state:
        if ENVIRONMENT_STATE_KEY not in features:
            raise DatasetError(
                f"the dataset has no {ENVIRONMENT_STATE_KEY!r} feature, which --policy.environment_state needs; record "
                "one with so101 record --environment_state true"
            )
        environment_dim = int(features[ENVIRONMENT_STATE_KEY]["shape"][0])
    return act_config(
        options, int(features[STATE_KEY]["shape"][0]), int(features[ACTION_KEY]["shape"][0]), cameras, environment_dim
    )


def act_config(
    options: ActPolicyConfig, state_dim: int, action_dim: int, cameras: list[str], environment_dim: int | None = None
) -> Any:
    """LeRobot ``ACTConfig``: ``state_dim`` state values, ``cameras`` at the training resolution and, when
    ``environment_dim`` is given, the environment state in; actions out."""
    from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
    from lerobot.policies.act.configuration_act import ACTConfig

    weights = None
    if options.pretrained_backbone and cameras and not options.backbone_weights:
        weights = backbone_weights_on_disk(options.vision_backbone)
        if weights is None:
            # Logged, not warnings.warn (which adds the source line of this call): the command layer shows it as
            # one clean line on stderr.
            log.warning(
                f"warning: ImageNet weights for {options.vision_backbone} are not in the torch hub cache; the backbone "
                "starts from random weights (expect slower learning). To use them, download them once on a machine "
                f"with network access (python -c \"import torchvision; torchvision.models.{options.vision_backbone}"
                "(weights='IMAGENET1K_V1')\") and copy ~/.cache/torch/hub/checkpoints here."
            )
    image_shape = (3, options.image_height, options.image_width)
    input_features = {STATE_KEY: PolicyFeature(type=FeatureType.STATE, shape=(state_dim,))}
    if environment_dim is not None:
        input_features[ENVIRONMENT_STATE_KEY] = PolicyFeature(type=FeatureType.ENV, shape=(environment_dim,))
    for name in cameras:
        input_features[IMAGE_PREFIX + name] = PolicyFeature(type=FeatureType.VISUAL, shape=image_shape)
    output_features = {ACTION_KEY: PolicyFeature(type=FeatureType.ACTION, shape=(action_dim,))}
    # LeRobot 0.4.4's ACT leaves ENV features unnormalised; the objects' positions vary by centimetres around
    # 0.2 m, which only standardisation makes visible to the network.
    normalization = {"VISUAL": NormalizationMode.MEAN_STD, "STATE": NormalizationMode.MEAN_STD,
                     "ENV": NormalizationMode.MEAN_STD, "ACTION": NormalizationMode.MEAN_STD}
    return ACTConfig(
        normalization_mapping=normalization,
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

    keys = (STATE_KEY, ACTION_KEY, ENVIRONMENT_STATE_KEY)
    stats = {key: dict(value) for key, value in ds_meta.stats.items() if key in keys}
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
    if not policy_config.image_features:
        return preprocessor, postprocessor
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
