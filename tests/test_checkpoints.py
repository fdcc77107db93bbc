"""Tests of so101.training.checkpoints: a training killed with SIGKILL inside a checkpoint save or between saves leaves
``last`` complete and loadable, and ``so101 train --resume`` finishes the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from so101.policies.safetensors_file import safetensors_problem
from so101.training.checkpoints import (
    check_new_run_dir,
    checkpoint_problem,
    how_to_continue,
    point,
    publish_best,
    resume_checkpoint,
    save_checkpoint_atomic,
)

REPO = Path(__file__).resolve().parents[1]

# Runs `so101 train` in a child process that SIGKILLs itself: inside the save of step K (weights written, training
# state not), or after N optimisation steps of this process (between saves); the last resume runs in the test.
# Mode "int" sends itself SIGINT (Ctrl-C) after N steps instead.
KILLER = """
import os, signal, sys
import lerobot.utils.train_utils as train_utils
import so101.training.train as train
mode, at = sys.argv[1], int(sys.argv[2])
if mode == "save":
    original = train_utils.save_training_state
    def dying(checkpoint_dir, step, *args, **kwargs):
        if step == at:
            (checkpoint_dir / "training_state").mkdir()
            (checkpoint_dir / "training_state" / "training_step.json").write_text('{"st')
            os.kill(os.getpid(), signal.SIGKILL)
        return original(checkpoint_dir, step, *args, **kwargs)
    train_utils.save_training_state = dying
else:
    original_update = train.update
    calls = []
    def dying_update(*args, **kwargs):
        calls.append(1)
        if len(calls) > at:
            os.kill(os.getpid(), signal.SIGINT if mode == "int" else signal.SIGKILL)
        return original_update(*args, **kwargs)
    train.update = dying_update
sys.exit(train.main(sys.argv[3:]))
"""

TINY = [
    "--policy.dim_model=32", "--policy.n_heads=2", "--policy.dim_feedforward=64", "--policy.n_encoder_layers=1",
    "--policy.n_vae_encoder_layers=1", "--policy.chunk_size=10", "--policy.n_action_steps=10",
    "--policy.image_height=48", "--policy.image_width=64", "--policy.pretrained_backbone=false",
    "--policy.device=cpu", "--batch_size=2", "--num_workers=0", "--wandb.mode=disabled", "--log_freq=4",
    "--eval_freq=0", "--save_freq=4", "--steps=12",
]


def _train(mode: str, at: int, flags: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    return subprocess.run([sys.executable, "-c", KILLER, mode, str(at), *flags], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _last(run: Path) -> Path:
    last = run / "checkpoints" / "last"
    assert last.is_symlink()
    return last.resolve()


def test_kill_inside_a_save_and_between_saves_then_resume(tiny_dataset, tmp_path, capsys) -> None:
    from lerobot.policies.act.modeling_act import ACTPolicy

    run = tmp_path / "run"
    flags = [f"--dataset.root={tiny_dataset}", f"--output_dir={run}", f"--cache_dir={tmp_path / 'cache'}", *TINY]
    killed = _train("save", 8, flags)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _last(run).name == "000004" and checkpoint_problem(_last(run)) is None
    assert not (run / "checkpoints" / "000008").exists(), "a half-written checkpoint was published"
    assert ACTPolicy.from_pretrained(run / "checkpoints" / "last" / "pretrained_model") is not None

    # Resumed, then killed again at step 10, after the save of step 8.
    killed = _train("step", 6, ["--resume", f"--output_dir={run}"])
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "resuming" in killed.stdout and "at step 4" in killed.stdout, killed.stdout
    assert "removing" in killed.stdout and not (run / ".staging" / "000008").exists()
    assert _last(run).name == "000008" and checkpoint_problem(_last(run)) is None

    from so101.training.train import main

    assert main(["--resume", f"--output_dir={run}"]) == 0
    assert "at step 8" in capsys.readouterr().out
    state = json.loads((_last(run) / "training_state" / "training_step.json").read_text())
    assert _last(run).name == "000012" and state["step"] == 12


def _fake_checkpoint(folder: Path, step: int) -> Path:
    import numpy as np
    from safetensors.numpy import save_file

    (folder / "pretrained_model").mkdir(parents=True)
    (folder / "training_state").mkdir()
    (folder / "pretrained_model" / "config.json").write_text("{}")
    (folder / "training_state" / "training_step.json").write_text(json.dumps({"step": step}))
    for path in (folder / "pretrained_model" / "model.safetensors", folder / "training_state" / "rng_state.safetensors",
                 folder / "training_state" / "optimizer_state.safetensors"):  # fmt: skip
        save_file({"w": np.zeros(16, dtype=np.float32)}, str(path))
    return folder


def test_resume_picks_the_newest_complete_checkpoint_and_names_the_others(tmp_path) -> None:
    checkpoints = tmp_path / "checkpoints"
    save_checkpoint_atomic(checkpoints / "000010", lambda folder: _fake_checkpoint(folder, 10))
    assert _last(tmp_path).name == "000010" and not (tmp_path / ".staging").exists()  # no empty staging left
    # Published but never linked (killed between the rename and the switch of last): still the one to resume.
    _fake_checkpoint(checkpoints / "000020", 20)
    # A checkpoint an older version left half-written.
    broken = _fake_checkpoint(checkpoints / "000030", 30)
    weights = broken / "pretrained_model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    lines: list[str] = []
    assert resume_checkpoint(tmp_path, log=lines.append).name == "000020"
    assert _last(tmp_path).name == "000020"
    assert any("000030" in line and "truncated" in line for line in lines), lines

    (checkpoints / "000020" / "pretrained_model" / "config.json").write_text("{not json")
    (checkpoints / "000010" / "training_state" / "training_step.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"nothing to resume.*not valid JSON.*missing.*without --resume"):
        resume_checkpoint(tmp_path, log=lines.append)


def test_best_is_switched_atomically_and_replaces_an_older_real_folder(tmp_path) -> None:
    old_best = tmp_path / "best" / "pretrained_model"
    old_best.mkdir(parents=True)  # the layout of older versions: a real folder
    checkpoint = _fake_checkpoint(tmp_path / "checkpoints" / "000010", 10)
    publish_best(tmp_path, checkpoint, {"step": 10})
    assert (tmp_path / "best").is_symlink()
    assert json.loads((tmp_path / "best" / "eval.json").read_text())["step"] == 10
    publish_best(tmp_path, _fake_checkpoint(tmp_path / "checkpoints" / "000020", 20), {"step": 20})
    assert [p.name for p in (tmp_path / ".best").iterdir()] == ["000020"]
    assert safetensors_problem(tmp_path / "best" / "pretrained_model" / "model.safetensors") is None


def test_point_replaces_a_link_in_one_rename(tmp_path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    point(tmp_path / "link", tmp_path / "a")
    point(tmp_path / "link", tmp_path / "b")
    assert os.readlink(tmp_path / "link") == "b" and not (tmp_path / ".link.new").exists()


def test_best_of_a_step_evaluated_again_never_replaces_the_folder_best_points_at(tmp_path) -> None:
    checkpoint = _fake_checkpoint(tmp_path / "checkpoints" / "000010", 10)
    publish_best(tmp_path, checkpoint, {"step": 10, "run": 1})
    first = (tmp_path / "best").resolve()
    publish_best(tmp_path, checkpoint, {"step": 10, "run": 2})  # a resumed run saved and evaluated step 10 again
    assert (tmp_path / "best").resolve() != first and not first.exists()
    assert json.loads((tmp_path / "best" / "eval.json").read_text())["run"] == 2


def test_a_full_disk_during_a_save_leaves_last_on_the_previous_checkpoint(tmp_path) -> None:
    import errno

    from so101.errors import DiskFullError

    checkpoints = tmp_path / "checkpoints"
    save_checkpoint_atomic(checkpoints / "000010", lambda folder: _fake_checkpoint(folder, 10))

    def fill_the_disk(folder: Path) -> None:
        _fake_checkpoint(folder, 20)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError, match=r"is full: checkpoint 000020.*points at the complete 000010.*--resume"):
        save_checkpoint_atomic(checkpoints / "000020", fill_the_disk)
    assert _last(tmp_path).name == "000010" and not (checkpoints / "000020").exists()
    assert not (tmp_path / ".staging" / "000020").exists()


def test_a_full_disk_while_best_is_copied_leaves_best_as_it_was(tmp_path, monkeypatch) -> None:
    import errno

    from so101.errors import DiskFullError
    from so101.training import checkpoints

    publish_best(tmp_path, _fake_checkpoint(tmp_path / "checkpoints" / "000010", 10), {"step": 10})

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.shutil, "copytree", full)
    with pytest.raises(DiskFullError, match="copy of checkpoint 000020 for best"):
        publish_best(tmp_path, _fake_checkpoint(tmp_path / "checkpoints" / "000020", 20), {"step": 20})
    assert json.loads((tmp_path / "best" / "eval.json").read_text())["step"] == 10


def test_ctrl_c_says_how_to_continue_and_a_run_folder_is_never_started_over(tiny_dataset, tmp_path, capsys) -> None:
    from so101.training.train import CONFIG_NAME, main

    cache = f"--cache_dir={tmp_path / 'cache'}"
    # Ctrl-C before the first checkpoint: nothing to resume, so a new folder (or removing this one).
    early = tmp_path / "early"
    stopped = _train("int", 2, [f"--dataset.root={tiny_dataset}", f"--output_dir={early}", cache, *TINY])
    assert stopped.returncode == 130, stopped.stderr
    assert f"{early} stopped; it has no complete checkpoint to continue from: start again with a new --output_dir, " \
        f"or remove {early} first" in stopped.stderr
    config = (early / CONFIG_NAME).read_text()
    assert main([f"--dataset.root={tiny_dataset}", f"--output_dir={early}", cache, *TINY]) == 2
    err = capsys.readouterr().err
    assert "--output_dir must not hold a run unless --resume (it holds so101_train_config.yaml)" in err
    assert "start again with a new --output_dir" in err and len(err.strip().splitlines()) == 1
    assert (early / CONFIG_NAME).read_text() == config  # not started over
    # Ctrl-C after a checkpoint: --resume continues it.
    late = tmp_path / "late"
    stopped = _train("int", 6, [f"--dataset.root={tiny_dataset}", f"--output_dir={late}", cache, *TINY])
    assert stopped.returncode == 130, stopped.stderr
    expected = f"continue it from checkpoint 000004 with: so101 train --resume true --output_dir {late}"
    assert expected in stopped.stderr


def test_a_folder_holding_a_run_is_refused_with_what_to_do(tmp_path) -> None:
    from so101.errors import ConfigError

    check_new_run_dir(tmp_path / "new", "cfg.yaml")  # absent or empty: a new run may start there
    (tmp_path / "wandb_run_id.txt").write_text("abc")
    with pytest.raises(ConfigError, match=r"it holds wandb_run_id\.txt\); it has no complete checkpoint"):
        check_new_run_dir(tmp_path, "cfg.yaml")
    save_checkpoint_atomic(tmp_path / "checkpoints" / "000010", lambda folder: _fake_checkpoint(folder, 10))
    assert how_to_continue(tmp_path).startswith("continue it from checkpoint 000010 with: so101 train --resume true")


def test_a_disk_that_fills_up_inside_safetensors_ends_in_one_error_without_a_partial(small_disk) -> None:
    """LeRobot writes weights with safetensors, whose ``SafetensorError`` carries the ENOSPC as text."""
    import numpy as np
    from safetensors.numpy import save_file

    from so101.errors import DiskFullError

    run = small_disk / "run"
    save_checkpoint_atomic(run / "checkpoints" / "000010", lambda folder: _fake_checkpoint(folder, 10))

    def too_big(folder: Path) -> None:
        _fake_checkpoint(folder, 20)  # 24 MB of weights on a 16 MB disk
        save_file({"w": np.zeros(6_000_000, dtype=np.float32)}, str(folder / "pretrained_model" / "model.safetensors"))

    said = r"is full: checkpoint 000020 could not be written \(.* free; a checkpoint needs about .*; checkpoints/"
    with pytest.raises(DiskFullError, match=said + r"last still points at the complete 000010\)") as caught:
        save_checkpoint_atomic(run / "checkpoints" / "000020", too_big)
    assert type(caught.value.__cause__).__name__ == "SafetensorError"
    assert caught.value.path == run and caught.value.need > 0 and caught.value.free is not None
    assert _last(run).name == "000010" and not (run / "checkpoints" / "000020").exists()
    assert list((run / ".staging").iterdir()) == []
