"""``so101 train``: train LeRobot's ACT on a recorded dataset, judging checkpoints by success in the simulator.

    so101 train --dataset.root data/pickplace --steps 50000 --batch_size 8 --eval_freq 5000 --eval.episodes 30
    so101 train --resume --output_dir outputs/train/act_20250101_120000             # continue a run
    accelerate launch --multi_gpu --num_processes 4 -m so101 train --dataset.root ...   # 4 GPUs, batch 4 x 8 = 32

The run folder holds LeRobot's checkpoint layout (``checkpoints/NNNNNN/{pretrained_model,training_state}``,
``checkpoints/last``), so ``ACTPolicy.from_pretrained``, ``lerobot-eval --policy.path`` and ``lerobot-record
--policy.path`` load any checkpoint; plus ``best/`` (the checkpoint with the highest success so far),
``eval_history.json``, ``eval_curve.png``, the config of the run and the wandb logs.

Frames come from the frame cache (``so101.training.frame_cache``), decoded once at the policy's resolution. With
``accelerate launch`` (``so101.training.processes``: the launch line for N GPUs or N CPU processes), each process
draws its own ``batch_size`` samples per step, so the effective batch size is ``batch_size x processes`` (the
learning rate is not rescaled: the seeds found that hurts on small datasets); only the main process builds the
cache, writes the config, saves checkpoints, evaluates and logs (``main_process`` below).
"""

from __future__ import annotations

import io
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from so101.command import parse, run_command
from so101.errors import CheckpointError, ConfigError, So101Error
from so101.inference.report import EvalSummary
from so101.policies.act import ActPolicyConfig
from so101.recording.atomic_file import write_atomic
from so101.recording.dataset_writer import DatasetRef
from so101.training.augmentation import AugmentOptions, make_image_transform
from so101.training.checkpoints import check_new_run_dir, how_to_continue, resume_checkpoint, save_checkpoint_atomic
from so101.training.in_loop_eval import InLoopEvalConfig
from so101.training.logger import WandbConfig
from so101.training.processes import main_process_run_dir, make_accelerator, processes_on_this_machine
from so101.training.threads import apply_threads, choose_threads

CONFIG_NAME = "so101_train_config.yaml"
"""The run's full ``TrainConfig``, written at the start; ``--resume`` reads it back."""


@dataclass
class OptimizerOptions:
    """AdamW and its learning-rate schedule (``--optimizer.*``)."""

    lr: float = 1e-5
    """Peak learning rate (AdamW). The seeds' best runs: 1e-5 with batch 8."""
    lr_backbone: float | None = None
    """Learning rate of the ResNet backbone; None: same as ``lr``."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    grad_clip_norm: float = 10.0
    """Gradients are clipped to this global norm."""
    scheduler: Literal["constant", "cosine"] = "constant"
    """``constant`` or ``cosine`` (decays to ``min_lr`` at the last step); both after ``warmup_steps``."""
    warmup_steps: int = 0
    """Linear warm-up from ~0 to ``lr`` over this many steps."""
    min_lr: float = 1e-7
    """Learning rate the cosine schedule ends at."""

    def __post_init__(self) -> None:
        if self.scheduler not in ("constant", "cosine"):
            raise ValueError(f"optimizer.scheduler must be constant or cosine, got {self.scheduler!r}")


@dataclass
class TrainConfig:
    """Options of ``so101 train``."""

    dataset: DatasetRef = field(default_factory=DatasetRef)
    """The dataset to train on."""
    policy: ActPolicyConfig = field(default_factory=ActPolicyConfig)
    """ACT's size, chunking and image resolution."""
    optimizer: OptimizerOptions = field(default_factory=OptimizerOptions)
    """AdamW and its schedule."""
    augment: AugmentOptions = field(default_factory=AugmentOptions)
    """Image augmentation of training samples (recorded in each checkpoint's train_config.json)."""
    eval: InLoopEvalConfig = field(default_factory=InLoopEvalConfig)
    """Evaluation in the simulator during training."""
    wandb: WandbConfig = field(default_factory=WandbConfig)
    """Experiment tracking."""
    output_dir: str | None = None
    """Run folder (must not hold a run yet, unless --resume); default: outputs/train/act_<date>_<time>."""
    steps: int = 50_000
    """Optimisation steps of the whole run (a resumed run continues up to this many)."""
    batch_size: int = 8
    """Samples per step and process (effective batch: batch_size x processes under accelerate)."""
    seed: int = 1000
    """Seed of weight initialisation, sampling and dropout."""
    num_workers: int = 2
    """Data-loader worker processes (they share the memory-mapped frame cache)."""
    torch_threads: int | None = None
    """CPU threads of torch in this process; default: the cores free at the start (``so101.training.threads``)."""
    save_freq: int = 5_000
    """Save a checkpoint every this many steps (and at every evaluation, and at the end)."""
    eval_freq: int = 5_000
    """Evaluate in the simulator every this many steps and at the end; 0 turns in-loop evaluation off."""
    log_freq: int = 100
    """Log training scalars (loss, learning rate, step time) every this many steps."""
    cache_dir: str | None = None
    """Frame-cache folder; default ~/.cache/so101/frames (or $SO101_CACHE_DIR)."""
    resume: bool = False
    """Continue the run in ``output_dir`` from its last checkpoint (its saved config; flags given here override)."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "save_freq", "log_freq"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.eval_freq < 0:
            raise ConfigError("eval_freq", self.eval_freq, "must be >= 0 (0 turns evaluation off)")
        if self.num_workers < 0:
            raise ConfigError("num_workers", self.num_workers, "must be >= 0")


def parse_config(argv: list[str]) -> TrainConfig:
    """Parse flags; with ``--resume --output_dir RUN`` start from RUN's saved config (see ``resolve_config``)."""
    return resolve_config(parse(TrainConfig, argv, "train"), argv)


def resolve_config(cfg: TrainConfig, argv: list[str]) -> TrainConfig:
    """With ``--resume``, RUN's saved config with the flags of ``argv`` on top; else ``cfg``.

    Raises:
        ConfigError: ``--resume`` without a run folder to continue, or no ``--dataset.root``.
        CheckpointError: the run's saved options cannot be read.
    """
    if cfg.resume:
        if not cfg.output_dir:
            raise ConfigError("output_dir", cfg.output_dir, "must name the run folder to continue when resuming")
        saved = Path(cfg.output_dir) / CONFIG_NAME
        if not saved.is_file():
            raise ConfigError(
                "output_dir", cfg.output_dir,
                f"is not a run folder of so101 train (it has no {CONFIG_NAME}); give the folder of the run to continue",
            )
        import yaml

        try:
            parse(TrainConfig, [f"--config_path={saved}"], "train")
        except (So101Error, ValueError, yaml.YAMLError) as err:
            raise CheckpointError(
                f"{saved}, the run's saved options, cannot be read ({' '.join(str(err).split())}); restore it "
                "from a copy, or start a new run in another --output_dir"
            ) from err
        cfg = parse(TrainConfig, [f"--config_path={saved}", *argv], "train")
    if cfg.dataset.root is None:
        rule = "must name the dataset (a LeRobot dataset folder, e.g. from so101 record)"
        raise ConfigError("dataset.root", None, rule)
    return cfg


def lerobot_train_config(cfg: TrainConfig, policy_config: Any, run_dir: Path) -> Any:
    """The same run as LeRobot's ``TrainPipelineConfig``: written as ``train_config.json`` into every checkpoint,
    and the source of the optimizer and scheduler (LeRobot's ``make_optimizer_and_scheduler``)."""
    from lerobot.configs.default import DatasetConfig
    from lerobot.configs.default import WandBConfig as LeRobotWandBConfig
    from lerobot.configs.train import TrainPipelineConfig
    from lerobot.optim.optimizers import AdamWConfig
    from lerobot.optim.schedulers import CosineDecayWithWarmupSchedulerConfig

    opt = cfg.optimizer
    scheduler = None
    if opt.scheduler == "cosine" or opt.warmup_steps > 0:
        # "constant" with warm-up is the cosine schedule decaying to the peak itself.
        scheduler = CosineDecayWithWarmupSchedulerConfig(
            num_warmup_steps=opt.warmup_steps,
            num_decay_steps=cfg.steps,
            peak_lr=opt.lr,
            decay_lr=opt.min_lr if opt.scheduler == "cosine" else opt.lr,
        )
    return TrainPipelineConfig(
        dataset=DatasetConfig(
            repo_id=cfg.dataset.repo_id, root=cfg.dataset.root, image_transforms=cfg.augment.lerobot_config()
        ),
        policy=policy_config,
        output_dir=run_dir,
        job_name=run_dir.name,
        seed=cfg.seed,
        num_workers=cfg.num_workers,
        batch_size=cfg.batch_size,
        steps=cfg.steps,
        eval_freq=cfg.eval_freq,
        log_freq=cfg.log_freq,
        save_freq=cfg.save_freq,
        use_policy_training_preset=True,
        optimizer=AdamWConfig(lr=opt.lr, weight_decay=opt.weight_decay, grad_clip_norm=opt.grad_clip_norm),
        scheduler=scheduler,
        wandb=LeRobotWandBConfig(enable=cfg.wandb.mode != "disabled", project=cfg.wandb.project,
                                 entity=cfg.wandb.entity, mode=cfg.wandb.mode),
    )


def update(
    policy: Any, batch: dict[str, Any], optimizer: Any, scheduler: Any, accelerator: Any, grad_clip_norm: float
) -> tuple[float, dict[str, float], float]:
    """One optimisation step (as LeRobot's ``update_policy``); returns loss, loss terms and gradient norm."""
    policy.train()
    with accelerator.autocast():
        loss, terms = policy(batch)
    accelerator.backward(loss)
    grad_norm = accelerator.clip_grad_norm_(policy.parameters(), grad_clip_norm)
    optimizer.step()
    optimizer.zero_grad()
    if scheduler is not None:
        scheduler.step()
    # .item() waits for the GPU, so the caller's timing of this call is the real update time.
    return loss.item(), terms, float(grad_norm)


def train(cfg: TrainConfig) -> EvalSummary | None:
    """Run the training; returns the best evaluation (None without in-loop evaluation)."""
    import draccus
    import torch
    from lerobot.datasets.utils import cycle
    from lerobot.optim.factory import make_optimizer_and_scheduler
    from lerobot.policies.factory import make_policy
    from lerobot.utils.random_utils import set_seed
    from lerobot.utils.train_utils import get_step_checkpoint_dir, load_training_state

    from so101.policies.act import make_act_config, make_processors, pick_device, policy_stats, select_cameras
    from so101.policies.backbone_calibration import calibrate_act_backbone
    from so101.policies.pretrained_backbone import start_backbone
    from so101.training.cached_dataset import CachedActDataset, to_policy_batch
    from so101.training.frame_cache import load_or_build
    from so101.training.in_loop_eval import InLoopEvaluator
    from so101.training.logger import StepTimer, TrainLogger

    meta = cfg.dataset.metadata()
    run_dir = Path(cfg.output_dir or f"outputs/train/act_{datetime.now():%Y%m%d_%H%M%S}")
    if not cfg.resume:
        check_new_run_dir(run_dir, CONFIG_NAME)
    device = pick_device(cfg.policy.device)
    threads = choose_threads(cfg.torch_threads, processes_on_this_machine())
    apply_threads(threads)
    accelerator = make_accelerator(device)
    main_process = accelerator.is_main_process
    run_dir = main_process_run_dir(run_dir)
    say = print if main_process else (lambda *_a, **_k: None)
    last_checkpoint = run_dir / "checkpoints" / "last"
    if cfg.resume and main_process:
        # The newest complete checkpoint, found before anything of the run is written: a run killed inside a save
        # left only staging files (removed here); a run with no complete checkpoint stops with its reasons.
        last_checkpoint = resume_checkpoint(run_dir, log=say)
    accelerator.wait_for_everyone()
    if main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg.output_dir = str(run_dir)
        text = io.StringIO()
        draccus.dump(cfg, text)
        write_atomic(run_dir / CONFIG_NAME, text.getvalue())
    set_seed(cfg.seed, accelerator=accelerator)

    cameras = select_cameras(meta, cfg.policy.cameras, cfg.policy.use_images)
    height, width = cfg.policy.image_height, cfg.policy.image_width
    with accelerator.main_process_first():  # the main process builds the cache; then the others open it
        cache = load_or_build(meta, list(cameras), height, width, cfg.cache_dir, log=say) if cameras else None

    policy_config = make_act_config(cfg.policy, meta, list(cameras))
    policy_config.device = accelerator.device.type
    policy_config.optimizer_lr = cfg.optimizer.lr
    policy_config.optimizer_lr_backbone = cfg.optimizer.lr_backbone or cfg.optimizer.lr
    policy_config.optimizer_weight_decay = cfg.optimizer.weight_decay
    if cfg.resume:
        policy_config.pretrained_path = last_checkpoint / "pretrained_model"
    policy = make_policy(policy_config, ds_meta=meta)
    if cameras:
        start_backbone(policy, cfg.policy.backbone_weights, cfg.policy.freeze_backbone, (height, width),
                       load=not cfg.resume, log=say)
    preprocessor, postprocessor = make_processors(policy.config, policy_stats(meta, policy.config))
    lerobot_cfg = lerobot_train_config(cfg, policy.config, run_dir)
    optimizer, scheduler = make_optimizer_and_scheduler(lerobot_cfg, policy)
    step = 0
    if cfg.resume:
        # LeRobot's own restore: step, optimizer and scheduler state, and the Python, NumPy and torch RNGs.
        step, optimizer, scheduler = load_training_state(last_checkpoint.resolve(), optimizer, scheduler)
        say(f"resuming {run_dir} at step {step} from {last_checkpoint.resolve().name}")

    dataset = CachedActDataset(
        meta, cache, policy.config.chunk_size, make_image_transform(cfg.augment), cfg.policy.environment_state
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=True,
        num_workers=cfg.num_workers,
        pin_memory=accelerator.device.type == "cuda",
        drop_last=len(dataset) >= cfg.batch_size,
        persistent_workers=cfg.num_workers > 0,
    )
    policy, optimizer, loader, scheduler = accelerator.prepare(policy, optimizer, loader, scheduler)
    batches = cycle(loader)
    random_backbone = cameras and policy_config.pretrained_backbone_weights is None and not cfg.policy.backbone_weights
    if random_backbone and cfg.policy.calibrate_backbone and not cfg.resume:
        first = preprocessor(to_policy_batch(next(batches), accelerator.device))
        norms = calibrate_act_backbone(accelerator.unwrap_model(policy), first)
        say(f"backbone from random weights: {norms} frozen batch norms set from the first batch's images")
    params = sum(p.numel() for p in policy.parameters())
    say(f"run {run_dir}: {meta.total_episodes} episodes, {meta.total_frames} frames, cameras {list(cameras)} at "
        f"{height}x{width}, {params / 1e6:.1f} M parameters, device {accelerator.device} ({threads} torch thread(s)), "
        f"effective batch {cfg.batch_size} x {accelerator.num_processes} process(es) = "
        f"{cfg.batch_size * accelerator.num_processes}")

    evaluator = InLoopEvaluator(run_dir, cfg.eval) if cfg.eval_freq > 0 and main_process else None
    logger = TrainLogger(run_dir, cfg.steps, step, cfg.wandb, asdict(cfg), enabled=main_process)
    timer = StepTimer()
    try:
        while step < cfg.steps:
            tick = time.perf_counter()
            batch = preprocessor(to_policy_batch(next(batches), accelerator.device))
            tock = time.perf_counter()
            loss_value, terms, grad_norm = update(policy, batch, optimizer, scheduler, accelerator,
                                                  cfg.optimizer.grad_clip_norm)
            timer.data_s += tock - tick
            timer.update_s += time.perf_counter() - tock
            timer.steps += 1
            step += 1
            lr = optimizer.param_groups[0]["lr"]
            logger.step(loss=loss_value, lr=lr)
            if step % cfg.log_freq == 0 or step == cfg.steps:
                logger.log({
                    "train/loss": loss_value,
                    **{f"train/{k}": float(v) for k, v in terms.items()},
                    "train/lr": lr,
                    "train/grad_norm": grad_norm,
                    "train/steps_per_s": timer.steps_per_s,
                    "train/data_s": timer.data_s / timer.steps,
                    "train/update_s": timer.update_s / timer.steps,
                    "train/data_share": timer.data_share,
                }, step)  # fmt: skip
                timer.reset()
            is_eval = evaluator is not None and (step % cfg.eval_freq == 0 or step == cfg.steps)
            if step % cfg.save_freq == 0 or step == cfg.steps or (cfg.eval_freq > 0 and step % cfg.eval_freq == 0):
                if main_process:
                    checkpoint_dir = get_step_checkpoint_dir(run_dir, cfg.steps, step)
                    save(checkpoint_dir, step, lerobot_cfg, accelerator.unwrap_model(policy), optimizer, scheduler,
                         preprocessor, postprocessor, meta, cameras, cfg.policy.environment_state)
                    if is_eval:
                        summary = evaluator.evaluate(checkpoint_dir, step)
                        logger.log(summary.metrics(), step)
                        logger.write(f"step {step}: {summary.line()}")
                accelerator.wait_for_everyone()
    finally:
        logger.close()
        if evaluator is not None:
            evaluator.close()
    best = evaluator.best if evaluator is not None else None
    if best is not None:
        low, high = best.success_ci95
        say(f"best: step {best.step}, success {best.success_rate:.1%} [{low:.1%}, {high:.1%}] -> {run_dir / 'best'}")
    return best


def save(
    checkpoint_dir: Path, step: int, lerobot_cfg: Any, policy: Any, optimizer: Any, scheduler: Any,
    preprocessor: Any, postprocessor: Any, meta: Any, cameras: dict[str, tuple[int, int]],
    environment_state: bool = False,
) -> None:
    """LeRobot's checkpoint (weights, config, processors, training state) plus ``so101.json``, written atomically
    (``so101.training.checkpoints``); then ``last`` points at it."""
    from lerobot.utils.train_utils import save_checkpoint

    from so101.policies.checkpoint import dataset_requirements, write_sidecar

    requirements = dataset_requirements(meta, cameras)
    requirements.environment_state = environment_state

    def write(folder: Path) -> None:
        save_checkpoint(folder, step, lerobot_cfg, policy, optimizer, scheduler, preprocessor, postprocessor)
        write_sidecar(folder / "pretrained_model", requirements, {"dataset": str(meta.root), "step": step})

    save_checkpoint_atomic(checkpoint_dir, write)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 train``; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)

    def body(cfg: TrainConfig) -> int:
        # --resume re-reads the run's saved config under the same flags, so the body needs the flags themselves.
        resolved = resolve_config(cfg, argv)
        try:
            train(resolved)
        except KeyboardInterrupt:
            if resolved.output_dir and Path(resolved.output_dir).is_dir():  # set once the run folder exists
                print(f"so101 train: {resolved.output_dir} stopped; {how_to_continue(Path(resolved.output_dir))}",
                      file=sys.stderr)
            raise
        return 0

    return run_command("train", TrainConfig, body, argv)


if __name__ == "__main__":
    sys.exit(main())
