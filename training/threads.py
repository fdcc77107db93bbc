"""How many CPU threads a training process gives torch, chosen by the machine.

PyTorch starts one intra-op thread per core. That is right on an idle machine and badly wrong beside another job:
two processes spinning all cores each make every step several times slower (a user measured 5-8 s per step with
the default threads next to another job, 1.2-1.4 s with one thread). So a training process takes the cores that
are free when it starts: the cores it may run on minus the ones busy with other work over half a second, at least
one. ``--torch_threads N`` overrides the choice.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from so101.errors import ConfigError


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def busy_cores(window_s: float = 0.5) -> int:
    """Cores busy with other work now: the non-idle share of all cores over ``window_s`` seconds (Linux's
    /proc/stat), rounded; elsewhere the 1-minute load average. Not the load average on Linux: it trails the last
    minute, so a job that has just ended would still count."""
    stat = Path("/proc/stat")
    if stat.is_file():
        first = _cpu_times(stat)
        time.sleep(window_s)
        second = _cpu_times(stat)
        total = sum(second) - sum(first)
        idle = (second[3] + second[4]) - (first[3] + first[4])  # idle and iowait
        return round(usable_cores() * (total - idle) / total) if total > 0 else 0
    try:
        return round(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0


def _cpu_times(stat: Path) -> list[int]:
    """The aggregate ``cpu`` line of /proc/stat: user, nice, system, idle, iowait, irq, softirq, steal (ticks)."""
    fields = stat.read_text().splitlines()[0].split()
    return [int(value) for value in fields[1:9]]


def choose_threads(requested: int | None = None, processes: int = 1) -> int:
    """Intra-op threads for torch: ``requested``, else this process's share of the free cores (at least 1) when
    ``processes`` training processes start together on this machine (they measure the same free cores)."""
    if requested is not None:
        if requested < 1:
            raise ConfigError("torch_threads", requested, "must be at least 1")
        return requested
    return max(1, (usable_cores() - busy_cores()) // processes)


def apply_threads(threads: int) -> None:
    """Give torch ``threads`` intra-op threads and one inter-op thread (ACT runs no parallel graph branches)."""
    import torch

    torch.set_num_threads(threads)
    # Only settable before the first parallel work; the intra-op count is what matters.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
