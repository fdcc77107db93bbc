"""The processes of one training run under ``accelerate launch``: how they start, and what only the main one does.

    accelerate launch --multi_gpu --num_processes N --num_machines 1 --mixed_precision no --dynamo_backend no \\
        -m so101 train --dataset.root ...     # N GPUs (NCCL); N CPU processes (gloo) with --policy.device=cpu

Every process trains on its own share of each step's samples (``batch_size`` each) and keeps an identical copy of
the weights. The main process alone builds the frame cache (the others wait, then open it), writes the run's
config, saves checkpoints, evaluates in the simulator and logs (console, wandb); the others wait for it at a
barrier after every save. ``accelerate launch --cpu --num_processes N`` starts one process, not N (accelerate
runs several CPU processes only under ``mpirun``), so ``make_accelerator`` refuses it, naming the line above.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from so101.errors import CommandLineError

BARRIER_TIMEOUT = timedelta(hours=6)
"""How long the other processes wait for the main one at a barrier (while it saves and evaluates in the simulator)
before the run fails; torch's own defaults (10 min for NCCL, 30 for gloo) are shorter than an in-loop evaluation."""

MULTI_PROCESS_LAUNCH = (
    "accelerate launch --multi_gpu --num_processes N --num_machines 1 --mixed_precision no --dynamo_backend no "
    "-m so101 train ... (with --policy.device=cpu on CPUs)"
)
"""The launch line of N processes, on GPUs and on CPUs alike."""


def make_accelerator(device: str) -> Any:
    """The run's ``Accelerator`` on ``device`` (``cpu``: gloo between processes; ``cuda``: NCCL).

    Raises:
        CommandLineError: ``accelerate launch --cpu --num_processes N`` (N > 1) started this process alone.
    """
    from accelerate import Accelerator
    from accelerate.utils import InitProcessGroupKwargs

    if _single_process_of_a_cpu_launch():
        raise CommandLineError(
            "accelerate launch --cpu --num_processes N starts one process, not N (accelerate runs several CPU "
            f"processes only under mpirun); launch N training processes with: {MULTI_PROCESS_LAUNCH}"
        )
    return Accelerator(
        cpu=device == "cpu",
        step_scheduler_with_optimizer=False,
        kwargs_handlers=[InitProcessGroupKwargs(timeout=BARRIER_TIMEOUT)],
    )


def _single_process_of_a_cpu_launch() -> bool:
    # accelerate's simple launcher sets MASTER_ADDR for --num_processes > 1 but starts one process: no WORLD_SIZE
    # (torchrun's) and no rank of an MPI launcher.
    environment = os.environ
    return (
        environment.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
        and "MASTER_ADDR" in environment
        and "WORLD_SIZE" not in environment
        and not any(name in environment for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"))
    )


def processes_on_this_machine() -> int:
    """Training processes of this run on this machine (torchrun's ``LOCAL_WORLD_SIZE``; 1 when not launched)."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def main_process_run_dir(run_dir: Path) -> Path:
    """The main process's run folder, in every process (a default name holds the time, which may differ between
    them); call it after ``make_accelerator``."""
    from accelerate.utils import broadcast_object_list

    return Path(broadcast_object_list([str(run_dir)])[0])
