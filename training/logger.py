"""Training logs: a console progress bar with ETA, wandb (offline unless asked otherwise), and the step timer
whose figures they report.

Named ``logger`` rather than ``logging`` so that it can never shadow the standard library's module.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

RUN_ID_FILE = "wandb_run_id.txt"
"""The run folder's file holding its wandb run id (``--resume`` continues the same wandb run)."""


@dataclass
class WandbConfig:
    """Experiment tracking with wandb (``--wandb.*``)."""

    mode: Literal["offline", "online", "disabled"] = "offline"
    """``offline`` (default: runs land in the run folder; ``wandb sync`` uploads them later), ``online`` (after
    ``wandb login``) or ``disabled``."""
    project: str = "so101"
    """wandb project of the runs."""
    entity: str | None = None
    """wandb team or user owning the project; default: your default entity."""
    name: str | None = None
    """Run name; default: the run folder's name."""

    def __post_init__(self) -> None:
        if self.mode not in ("offline", "online", "disabled"):
            raise ValueError(f"wandb.mode must be offline, online or disabled, got {self.mode!r}")


class TrainLogger:
    """Progress bar on the console, scalars to wandb. Only the main process of a multi-GPU run logs."""

    def __init__(
        self, run_dir: Path, total_steps: int, start_step: int, wandb_config: WandbConfig, config: dict[str, Any],
        enabled: bool = True,
    ) -> None:
        from tqdm import tqdm

        self.enabled = enabled
        self._bar = tqdm(
            total=total_steps, initial=start_step, unit="step", desc="train", dynamic_ncols=True,
            disable=not enabled, file=sys.stdout,
        )
        self._wandb = None
        if enabled and wandb_config.mode != "disabled":
            import wandb

            # Only a resumed run (its id file exists) resumes, and only online: wandb ignores resume offline, and
            # says so on every run it is given.
            resuming = (Path(run_dir) / RUN_ID_FILE).is_file() and wandb_config.mode == "online"
            self._wandb = wandb.init(
                project=wandb_config.project,
                entity=wandb_config.entity,
                name=wandb_config.name or Path(run_dir).name,
                dir=str(run_dir),
                mode=wandb_config.mode,
                config=config,
                resume="allow" if resuming else None,
                id=_run_id(run_dir),
            )

    def step(self, n: int = 1, **postfix: float) -> None:
        self._bar.update(n)
        if postfix:
            self._bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self._wandb is not None:
            self._wandb.log(metrics, step=step)

    def write(self, message: str) -> None:
        """A console line that does not break the progress bar."""
        if self.enabled:
            self._bar.write(message)

    def close(self) -> None:
        self._bar.close()
        if self._wandb is not None:
            self._wandb.finish()


def _run_id(run_dir: Path) -> str:
    """A stable wandb id per run folder, so that ``--resume`` continues the same wandb run."""
    path = Path(run_dir) / RUN_ID_FILE
    if path.is_file():
        return path.read_text().strip()
    import wandb

    run_id = wandb.util.generate_id()
    path.write_text(run_id)
    return run_id


class StepTimer:
    """Wall-clock seconds spent waiting for data (``data_s``) and updating the weights (``update_s``) over
    ``steps`` steps, since the last ``reset``."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.data_s = 0.0
        self.update_s = 0.0
        self.steps = 0
        self.started = time.perf_counter()

    @property
    def data_share(self) -> float:
        total = self.data_s + self.update_s
        return self.data_s / total if total > 0 else 0.0

    @property
    def steps_per_s(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.steps / elapsed if elapsed > 0 else 0.0
