"""``so101 pretrain-encoder``: teach ACT's image backbone where the brick and the bowl are, before ACT trains.

    so101 pretrain-encoder --dataset.root D --output encoder.safetensors
    so101 train ... --policy.backbone_weights encoder.safetensors --policy.freeze_backbone true

ACT learns to see from its action loss alone: from random weights on a CPU, thousands of steps pass before its
ResNet finds a 5x9-pixel brick (docs/results/learning-study.md). In the simulator the answer is known, so the
backbone can learn it directly: random scenes (``so101.training.encoder_scenes``) rendered at the policy's image
size, labelled with the brick's and the bowl's positions, one regression head per camera on the ResNet's last
feature map. The heads are thrown away; the backbone is saved under the names of LeRobot's ACT backbone, with its
batch-norm statistics, which ACT's frozen batch norms then apply (as they apply ImageNet's). A policy trained on it is
a stock ACT checkpoint. What it costs: the encoder knows the simulator's scenes, which is what in-sim evaluation
measures; on the real arm it is a starting point to fine-tune, not a calibrated pose estimator.

The held-out error (scenes after the training scenes, in mm and degrees, in ``<output>.json``) says whether it
learned: the grasp needs the brick within about a centimetre (the expert's measured windows).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from so101.command import run_command
from so101.errors import ConfigError, DatasetError
from so101.sim.scene import ROBOT_CAMERA_NAMES, CameraConfig
from so101.training.encoder_scenes import (
    ENCODER_SEEDS,
    FIXED_CAMERAS,
    LabelledScenes,
    label_names,
    label_scales,
    render_scenes,
)

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

@dataclass
class EncoderDatasetOptions:
    root: str = ""
    """Demonstrations whose joint states pose the arm in the rendered scenes (``so101 record``)."""


@dataclass
class EncoderPretrainConfig:
    """Options of ``so101 pretrain-encoder``."""

    dataset: EncoderDatasetOptions = field(default_factory=EncoderDatasetOptions)
    """The demonstrations the arm poses come from."""
    output: str = "encoder.safetensors"
    """The backbone's weights (safetensors); ``<output>.json`` gets the held-out errors and the options."""
    cameras: list[str] = field(default_factory=lambda: ["overhead_cam", "wrist_cam"])
    """Cameras rendered and learned from: those the policy will observe."""
    image_height: int = 96
    """Must equal the policy's ``--policy.image_height``."""
    image_width: int = 128
    """Must equal the policy's ``--policy.image_width``."""
    vision_backbone: str = "resnet18"
    """torchvision ResNet; must equal the policy's ``--policy.vision_backbone``."""
    scenes: int = 20_000
    """Training scenes (each rendered from every camera)."""
    held_out: int | None = None
    """Scenes after the training scenes on which the errors are measured; default a tenth of ``scenes``, at most
    2,000."""
    steps: int = 1_500
    """Optimisation steps (AdamW, linear warm-up over the first 5%, then cosine to zero)."""
    batch_size: int = 32
    """Scenes per step (each gives one image per camera)."""
    lr: float = 1e-3
    """Peak learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    torch_threads: int | None = None
    """torch intra-op threads; default: the free cores (``so101.training.threads``)."""
    seed: int = 0
    """Seed of the weights' initialisation and of the batches' order."""


@dataclass
class HeldOutError:
    """Median errors on held-out scenes, in the units a grasp cares about."""

    brick_mm: float | None
    """Median distance (mm) of the brick's predicted centre from its true one, from a fixed camera (None without)."""
    brick_yaw_deg: float | None
    bowl_mm: float | None
    wrist_brick_px: float | None
    """Median image distance (pixels at the training size) of the brick's centre in the wrist camera, where in view."""


def arm_poses(root: Path) -> np.ndarray:
    """Every ``observation.state`` (N, 6) of a recorded dataset, dataset units."""
    import pyarrow.parquet as pq

    paths = sorted((root / "data").glob("*/*.parquet"))
    if not paths:
        raise DatasetError(f"{root} has no data files; give --dataset.root a dataset recorded by so101 record")
    states = [np.stack(pq.read_table(p, columns=["observation.state"]).column(0).to_numpy(zero_copy_only=False))
              for p in paths]
    poses = np.concatenate(states).astype(np.float32)
    if poses.ndim != 2 or poses.shape[1] != 6:
        raise DatasetError(f"{root}: observation.state is {poses.shape[1:]}-wide, not the SO-101's 6 joints")
    return poses


def build_encoder(backbone: str, cameras: list[str], feature_hw: tuple[int, int]) -> torch.nn.Module:
    """The ResNet up to its last stage (the layers LeRobot's ACT keeps) and a head per camera that reads the whole
    feature map, so that the features must say where in the image things are."""
    import torch
    import torchvision

    resnet = getattr(torchvision.models, backbone)(weights=None)
    trunk = torch.nn.Sequential()
    for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
        trunk.add_module(name, getattr(resnet, name))
    channels = resnet.fc.in_features

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.trunk = trunk
            self.heads = torch.nn.ModuleDict({
                name: torch.nn.Sequential(
                    torch.nn.Conv2d(channels, 64, 1), torch.nn.ReLU(), torch.nn.Flatten(),
                    torch.nn.Linear(64 * feature_hw[0] * feature_hw[1], 256), torch.nn.ReLU(),
                    torch.nn.Linear(256, len(label_names(name))),
                )
                for name in cameras
            })

        def forward(self, images: torch.Tensor, camera: str) -> torch.Tensor:
            return self.heads[camera](self.trunk(images))

    return Encoder()


def to_input(images: np.ndarray, device: str = "cpu") -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float, normalised as ACT normalises camera images (ImageNet's statistics),
    channels-last (faster convolutions on CPU)."""
    import torch

    from so101.policies.act import IMAGENET_STATS

    x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(IMAGENET_STATS["mean"], device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STATS["std"], device=device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def held_out_error(model: torch.nn.Module, scenes: LabelledScenes, cfg: EncoderPretrainConfig) -> HeldOutError:
    """Median errors of the model (in eval mode: batch norms apply their running statistics, as ACT's do)."""
    import torch

    from so101.sim.randomization import RandomizationConfig

    _, half = label_scales(RandomizationConfig())
    model.eval()
    predictions: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        for camera in cfg.cameras:
            chunks = [model(to_input(scenes.images[camera][i : i + 256]), camera).numpy()
                      for i in range(0, len(scenes), 256)]
            predictions[camera] = np.concatenate(chunks)
    model.train()
    fixed = next((c for c in cfg.cameras if c in FIXED_CAMERAS), None)
    brick_mm = yaw_deg = bowl_mm = None
    if fixed is not None:
        error = (predictions[fixed] - scenes.labels[fixed]) * half
        brick_mm = float(np.median(np.hypot(error[:, 0], error[:, 1])) * 1000)
        bowl_mm = float(np.median(np.hypot(error[:, 4], error[:, 5])) * 1000)
        pred, true = predictions[fixed], scenes.labels[fixed]
        angle = np.arctan2(pred[:, 3], pred[:, 2]) - np.arctan2(true[:, 3], true[:, 2])
        yaw_deg = float(np.median(np.abs(np.angle(np.exp(1j * angle)))) / 2 * 180 / math.pi)
    wrist_px = None
    moving = [c for c in cfg.cameras if c not in FIXED_CAMERAS]
    if moving:
        camera = moving[0]
        visible = scenes.masks[camera][:, 0] > 0
        if visible.any():
            d = predictions[camera][visible, :2] - scenes.labels[camera][visible, :2]
            px = np.hypot(d[:, 0] * cfg.image_width / 2, d[:, 1] * cfg.image_height / 2)
            wrist_px = float(np.median(px))
    return HeldOutError(brick_mm, yaw_deg, bowl_mm, wrist_px)


def describe(error: HeldOutError) -> str:
    parts = [(error.brick_mm, "brick {:.1f} mm"), (error.brick_yaw_deg, "its yaw {:.1f} deg"),
             (error.bowl_mm, "bowl {:.1f} mm"), (error.wrist_brick_px, "brick in the wrist camera {:.1f} px")]
    return ", ".join(text.format(value) for value, text in parts if value is not None)


def backbone_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trunk's weights and batch-norm statistics under LeRobot ACT's backbone names (``conv1.weight``,
    ``layer4.1.bn2.running_var``, ...), without the counters that frozen batch norms do not have."""
    return {name: tensor.detach().clone().contiguous() for name, tensor in model.trunk.state_dict().items()
            if not name.endswith("num_batches_tracked")}


def pretrain(cfg: EncoderPretrainConfig) -> HeldOutError:
    """Render, train, save; returns the held-out errors of the saved backbone."""
    import torch
    from safetensors.torch import save_file

    from so101.training.threads import choose_threads

    unknown = [c for c in cfg.cameras if c not in ROBOT_CAMERA_NAMES]
    if unknown or not cfg.cameras:
        raise ConfigError("cameras", cfg.cameras, f"must name cameras of the scene: {', '.join(ROBOT_CAMERA_NAMES)}")
    if not cfg.dataset.root:
        raise ConfigError("dataset.root", cfg.dataset.root, "is required: the demonstrations whose arm poses it uses")
    if cfg.scenes < cfg.batch_size:
        raise ConfigError("scenes", cfg.scenes, f"must be at least --batch_size ({cfg.batch_size})")
    held_out_scenes = cfg.held_out if cfg.held_out is not None else min(2_000, max(1, cfg.scenes // 10))
    if held_out_scenes < 1:
        raise ConfigError("held_out", cfg.held_out, "must be at least 1")
    output = Path(cfg.output)
    if output.suffix != ".safetensors":
        raise ConfigError("output", cfg.output, "must end in .safetensors")
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(choose_threads(cfg.torch_threads))
    torch.manual_seed(cfg.seed)
    poses = arm_poses(Path(cfg.dataset.root))
    cameras = [CameraConfig(name, cfg.image_width, cfg.image_height) for name in cfg.cameras]

    start = time.perf_counter()
    train = render_scenes(cameras, poses, cfg.scenes, ENCODER_SEEDS.start)
    held_out = render_scenes(cameras, poses, held_out_scenes, ENCODER_SEEDS.start + cfg.scenes)
    render_s = time.perf_counter() - start
    print(f"rendered {cfg.scenes} + {held_out_scenes} held-out scenes x {len(cameras)} cameras in {render_s:.0f} s",
          flush=True)

    feature_hw = (math.ceil(cfg.image_height / 32), math.ceil(cfg.image_width / 32))
    model = build_encoder(cfg.vision_backbone, cfg.cameras, feature_hw).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = max(1, cfg.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then cosine to zero
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps)))
    rng = np.random.default_rng(cfg.seed)
    start = time.perf_counter()
    for step in range(1, cfg.steps + 1):
        batch = rng.choice(len(train), cfg.batch_size, replace=False)
        loss = torch.zeros(())
        for camera in cfg.cameras:
            prediction = model(to_input(train.images[camera][batch]), camera)
            target = torch.from_numpy(train.labels[camera][batch])
            mask = torch.from_numpy(train.masks[camera][batch])
            loss = loss + (torch.nn.functional.smooth_l1_loss(prediction, target, reduction="none", beta=0.1)
                           * mask).sum() / mask.sum().clamp(min=1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 250 == 0 or step == cfg.steps:
            rate = step / (time.perf_counter() - start)
            print(f"step {step}/{cfg.steps}  loss {loss.item():.4f}  {rate:.2f} steps/s", flush=True)
        if step % 500 == 0 and step < cfg.steps:
            print(f"  held out: {describe(held_out_error(model, held_out, cfg))}", flush=True)
    train_s = time.perf_counter() - start

    error = held_out_error(model, held_out, cfg)
    save_file(backbone_state_dict(model), str(output),
              metadata={"vision_backbone": cfg.vision_backbone, "image_size": f"{cfg.image_height}x{cfg.image_width}"})
    report = {"held_out_error": error.__dict__, "render_s": render_s, "train_s": train_s,
              "options": {k: v for k, v in cfg.__dict__.items() if k != "dataset"} | {"dataset": cfg.dataset.root}}
    output.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {output} ({train_s / 60:.1f} min training); held-out median errors: {describe(error)}", flush=True)
    return error


def main(argv: list[str] | None = None) -> int:
    def body(cfg: EncoderPretrainConfig) -> None:
        pretrain(cfg)

    return run_command("pretrain-encoder", EncoderPretrainConfig, body, argv)
