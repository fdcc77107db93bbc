"""Tests of so101.inference.discovery: finding a run's checkpoints, their steps, where reports go."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from so101.inference.discovery import checkpoint_step, default_output_dir, find_checkpoints


def _checkpoint(folder: Path) -> Path:
    pretrained = folder / "pretrained_model"
    pretrained.mkdir(parents=True)
    (pretrained / "config.json").write_text("{}")
    (pretrained / "model.safetensors").write_text("")
    return pretrained


def test_a_run_gives_every_checkpoint_in_step_order_and_skips_the_last_link(tmp_path: Path) -> None:
    run = tmp_path / "run"
    second, first = _checkpoint(run / "checkpoints" / "000200"), _checkpoint(run / "checkpoints" / "000100")
    (run / "checkpoints" / "last").symlink_to(run / "checkpoints" / "000200")
    assert find_checkpoints(run) == [first, second]
    assert default_output_dir(run) == run / "eval"
    (run / "checkpoints" / "000100" / "training_state").mkdir()
    (run / "checkpoints" / "000100" / "training_state" / "training_step.json").write_text(json.dumps({"step": 99}))
    assert checkpoint_step(first) == 99  # the recorded step wins over the folder's name
    assert checkpoint_step(second) == 200


def test_one_checkpoint_given_as_itself_or_its_folder(tmp_path: Path) -> None:
    pretrained = _checkpoint(tmp_path / "best")
    (tmp_path / "best" / "eval.json").write_text(json.dumps({"step": 300}))
    assert find_checkpoints(tmp_path / "best") == [pretrained]
    assert find_checkpoints(pretrained) == [pretrained]
    assert checkpoint_step(pretrained) == 300
    assert default_output_dir(tmp_path / "best") == tmp_path / "best" / "eval"
    assert default_output_dir(pretrained) == tmp_path / "best" / "eval"


def test_missing_or_empty_paths_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist; give a checkpoint folder"):
        find_checkpoints(tmp_path / "nothing")
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        find_checkpoints(tmp_path / "run")
