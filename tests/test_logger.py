"""Training logs: wandb runs offline into the run folder, and a resumed run keeps its wandb id."""

from __future__ import annotations

from pathlib import Path

import pytest

from so101.training.logger import TrainLogger, WandbConfig


def test_offline_wandb_run_lands_in_the_run_folder_and_keeps_its_id(tmp_path: Path, capfd) -> None:
    offline = WandbConfig(mode="offline")
    logger = TrainLogger(tmp_path, total_steps=4, start_step=0, wandb_config=offline, config={"a": 1})
    logger.step(2, loss=0.5)
    logger.log({"train/loss": 0.5}, step=2)
    logger.close()
    assert "resume" not in capfd.readouterr().err  # a fresh run asks wandb for no resume (it warned offline)
    run_id = (tmp_path / "wandb_run_id.txt").read_text().strip()
    assert any(run_id in path.name for path in (tmp_path / "wandb").glob("offline-run-*"))
    resumed = TrainLogger(tmp_path, total_steps=4, start_step=2, wandb_config=WandbConfig(mode="offline"), config={})
    resumed.close()
    assert (tmp_path / "wandb_run_id.txt").read_text().strip() == run_id


def test_unknown_wandb_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="offline, online or disabled"):
        WandbConfig(mode="cloud")


def test_step_timer_splits_data_and_update_time() -> None:
    from so101.training.logger import StepTimer

    timer = StepTimer()
    assert timer.data_share == 0.0
    timer.data_s, timer.update_s, timer.steps = 1.0, 3.0, 4
    assert timer.data_share == pytest.approx(0.25)
    assert timer.steps_per_s > 0
    timer.reset()
    assert (timer.data_s, timer.update_s, timer.steps) == (0.0, 0.0, 0)
