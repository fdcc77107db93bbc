"""``so101 bench train``: where a training step's time goes, and what the frame cache costs.

    so101 bench train --dataset.root data/pickplace [--steps 20] [--batch_size 8] [--compare_video]

Builds (or reuses) the frame cache of the dataset at the policy's resolution and prints its size, bytes per frame
and the size it would have for the seeds' 6,559-frame dataset; then runs training steps of a default-size ACT
exactly as ``so101 train`` does and prints the split between waiting for data (loader, transfer to the device,
preprocessing) and updating the weights, against the target (data at most 10% of a step). ``--compare_video`` also
times LeRobot's own video-decoding data
loader on the same batches, the path the seeds measured at 39% of the step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from so101.policies.act import ActPolicyConfig
from so101.recording.dataset_writer import DatasetRef
from so101.training.augmentation import AugmentOptions

SEEDS_DATASET_FRAMES = 6_559
"""Frames of the seeds' 40-episode, two-camera dataset."""
TARGET_DATA_SHARE = 0.10
"""Most of a training step's time that may go to waiting for data."""


@dataclass
class BenchPolicyConfig(ActPolicyConfig):
    """ACT as ``so101 train`` builds it, from random weights: the timing does not depend on them."""

    pretrained_backbone: bool = False
    """Start the backbone from ImageNet weights when they are in the torch hub cache."""


@dataclass
class TrainBenchConfig:
    """Options of ``so101 bench train``."""

    dataset: DatasetRef = field(default_factory=DatasetRef)
    """The dataset whose frames are cached and loaded."""
    policy: BenchPolicyConfig = field(default_factory=BenchPolicyConfig)
    """ACT's size and image resolution (the cache is built at this resolution)."""
    steps: int = 20
    """Timed steps (after ``warmup_steps`` untimed ones)."""
    warmup_steps: int = 3
    """Untimed steps first (worker start-up, allocator warm-up)."""
    batch_size: int = 8
    """Samples per step."""
    num_workers: int = 2
    """Data-loader worker processes."""
    torch_threads: int | None = None
    """CPU threads of torch; default: the cores free at the start, as ``so101 train`` chooses."""
    augment: AugmentOptions = field(default_factory=AugmentOptions)
    """Image augmentation in the loader workers, as ``so101 train --augment.*``."""
    cache_dir: str | None = None
    """Frame-cache folder; default ~/.cache/so101/frames (or $SO101_CACHE_DIR)."""
    compare_video: bool = False
    """Also time LeRobot's own video-decoding data loader on the same batches."""

    def __post_init__(self) -> None:
        if self.dataset.root is None:
            raise ValueError("give a dataset: --dataset.root PATH (a LeRobot dataset folder, e.g. from so101 record)")
        if self.steps < 1 or self.warmup_steps < 0 or self.batch_size < 1 or self.num_workers < 0:
            raise ValueError("--steps and --batch_size must be >= 1, --warmup_steps and --num_workers >= 0")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 bench train``; returns the process exit status."""
    from so101.command import run_command

    return run_command("bench train", TrainBenchConfig, bench_train, argv)


def bench_train(cfg: TrainBenchConfig) -> int:
    """Run the benchmark and print its figures; returns 0 when it ran."""
    import torch
    from accelerate import Accelerator
    from lerobot.datasets.utils import cycle
    from lerobot.optim.optimizers import AdamWConfig
    from lerobot.policies.factory import make_policy

    from so101.policies.act import make_act_config, make_processors, pick_device, policy_stats, select_cameras
    from so101.policies.pretrained_backbone import start_backbone
    from so101.sim.machine import machine_line
    from so101.training.augmentation import make_image_transform
    from so101.training.cached_dataset import CachedActDataset, to_policy_batch
    from so101.training.frame_cache import bytes_per_frame, format_bytes, load_or_build
    from so101.training.threads import apply_threads, busy_cores, choose_threads, usable_cores

    meta = cfg.dataset.metadata()
    print(machine_line(gl=False), flush=True)
    load = busy_cores()
    threads = choose_threads(cfg.torch_threads)
    apply_threads(threads)
    cameras = select_cameras(meta, cfg.policy.cameras)
    height, width = cfg.policy.image_height, cfg.policy.image_width
    start = time.perf_counter()
    cache = load_or_build(meta, list(cameras), height, width, cfg.cache_dir)
    cache_s = time.perf_counter() - start
    per_frame = bytes_per_frame(len(cameras), height, width)

    device = pick_device(cfg.policy.device)
    accelerator = Accelerator(cpu=device == "cpu")
    policy_config = make_act_config(cfg.policy, meta, list(cameras))
    policy_config.device = accelerator.device.type
    policy = make_policy(policy_config, ds_meta=meta)
    if cameras:
        start_backbone(policy, cfg.policy.backbone_weights, cfg.policy.freeze_backbone, (height, width))
    preprocessor, _ = make_processors(policy.config, policy_stats(meta, policy.config))
    optimizer = AdamWConfig(lr=1e-5, weight_decay=1e-4).build(policy.get_optim_params())
    dataset = CachedActDataset(meta, cache, policy.config.chunk_size, make_image_transform(cfg.augment))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.num_workers,
        pin_memory=accelerator.device.type == "cuda", drop_last=True, persistent_workers=cfg.num_workers > 0,
    )
    policy, optimizer, loader = accelerator.prepare(policy, optimizer, loader)
    batches = cycle(loader)
    # The phases of ``so101.training.train.update``, timed one by one (on a GPU each is synchronised first).
    phases = {"data": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    for i in range(cfg.warmup_steps + cfg.steps):
        marks = [time.perf_counter()]
        batch = preprocessor(to_policy_batch(next(batches), accelerator.device))
        marks.append(_synchronized(accelerator))
        policy.train()
        with accelerator.autocast():
            loss, _ = policy(batch)
        marks.append(_synchronized(accelerator))
        accelerator.backward(loss)
        marks.append(_synchronized(accelerator))
        accelerator.clip_grad_norm_(policy.parameters(), 10.0)
        optimizer.step()
        optimizer.zero_grad()
        marks.append(_synchronized(accelerator))
        if i >= cfg.warmup_steps:
            for name, start, stop in zip(phases, marks[:-1], marks[1:], strict=True):
                phases[name] += stop - start
    data_s = phases["data"]
    update_s = phases["forward"] + phases["backward"] + phases["optimizer"]
    total = data_s + update_s
    # The loader alone, back to back: what a batch costs when no update hides the workers' prefetching.
    tick = time.perf_counter()
    for _ in range(cfg.steps):
        preprocessor(to_policy_batch(next(batches), accelerator.device))
    alone_s = (time.perf_counter() - tick) / cfg.steps

    print(f"so101 bench train: {meta.root} ({meta.total_frames} frames, cameras {list(cameras)})")
    print(f"  frame cache           {format_bytes(cache.nbytes)} at {height}x{width} ({per_frame:,} bytes/frame), "
          f"ready in {cache_s:.1f} s")
    print(f"  for {SEEDS_DATASET_FRAMES:,} frames      {format_bytes(SEEDS_DATASET_FRAMES * per_frame)} "
          f"(raw 640x480 float32 would be {format_bytes(SEEDS_DATASET_FRAMES * len(cameras) * 3 * 480 * 640 * 4)})")
    print(f"  threads               {threads} torch thread(s) ({load} of {usable_cores()} cores busy at the start), "
          f"{cfg.num_workers} loader workers, augmentation {'on' if cfg.augment.enabled else 'off'}, backbone "
          f"{'frozen' if cfg.policy.freeze_backbone else 'trained'}")
    print(f"  step (batch {cfg.batch_size}, {accelerator.device}): {1000 * total / cfg.steps:.1f} ms = "
          f"{cfg.steps / total:.2f} steps/s; data {1000 * data_s / cfg.steps:.1f} ms ({data_s / total:.1%}) "
          f"+ update {1000 * update_s / cfg.steps:.1f} ms ({update_s / total:.1%})   "
          f"(target: data <= {TARGET_DATA_SHARE:.0%})")
    print("  update split          " + ", ".join(
        f"{name} {1000 * phases[name] / cfg.steps:.1f} ms ({phases[name] / total:.1%})"
        for name in ("forward", "backward", "optimizer")))
    print(f"  loader alone          {1000 * alone_s:.1f} ms per batch, back to back (an update slower than this "
          f"hides it entirely)")
    if cfg.compare_video:
        video_s = _time_video_loader(cfg, meta, list(cameras), policy.config, cfg.steps)
        print(f"  LeRobot video loader  data {1000 * video_s:.1f} ms per batch (decoding {meta.total_frames} frames' "
              f"videos at the recorded size): {video_s / (video_s + update_s / cfg.steps):.1%} of such a step")
    return 0


def _synchronized(accelerator: object) -> float:
    """``time.perf_counter()`` once the device has finished its queued work."""
    import torch

    if getattr(accelerator, "device", None) is not None and accelerator.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def _time_video_loader(
    cfg: TrainBenchConfig, meta: object, cameras: list[str], policy_config: object, steps: int
) -> float:
    """Seconds per batch of ``LeRobotDataset`` with ACT's action chunks, decoding video (no cache)."""
    import torch
    from lerobot.datasets.factory import resolve_delta_timestamps
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from lerobot.datasets.utils import cycle

    dataset = LeRobotDataset(
        cfg.dataset.repo_id, root=cfg.dataset.root, delta_timestamps=resolve_delta_timestamps(policy_config, meta)
    )
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.num_workers)
    batches = cycle(loader)
    next(batches)
    start = time.perf_counter()
    for _ in range(steps):
        next(batches)
    return (time.perf_counter() - start) / steps
