"""Atomic checkpoints of a training run: a kill at any instant never leaves ``last`` or ``best`` pointing at a
half-written checkpoint.

A checkpoint is written whole into ``RUN/.staging/NNNNNN``, every file and folder of it fsynced, then renamed to
``RUN/checkpoints/NNNNNN`` (one rename on one filesystem: it appears complete or not at all). ``checkpoints/last``
stays LeRobot's relative symlink (what ``lerobot-train --resume`` and ``--policy.path`` follow); it is switched by
making the new link under a temporary name and renaming it over the old one, which is atomic too. ``best`` is a
symlink switched the same way, to a copy in ``RUN/.best/NNNNNN``. The staging folder is removed once empty (a
finished run has none); staging leftovers of a killed run are removed when the run is resumed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from so101.errors import ConfigError, DiskFullError
from so101.policies.safetensors_file import safetensors_problem
from so101.recording.atomic_file import fsync_dir, fsync_tree
from so101.recording.disk_space import filled_up, free_bytes, mb, tree_bytes
from so101.training.logger import RUN_ID_FILE

STAGING_DIR = ".staging"
"""Folder of the run where checkpoints are written before they are published."""
BEST_STORE = ".best"
"""Folder of the run holding the copies that ``best`` points at."""
BEST_LINK = "best"
"""The run's link to its best checkpoint's copy (what ``so101 eval RUN/best`` reads)."""
LAST_LINK = "last"
"""LeRobot's name of the link to the newest checkpoint (``lerobot.utils.constants.LAST_CHECKPOINT_LINK``)."""


def publish(staging: Path, final: Path) -> None:
    """Make the fully written folder ``staging`` appear as ``final`` in one rename (replacing an older ``final``)."""
    fsync_tree(staging)
    final.parent.mkdir(parents=True, exist_ok=True)
    old = staging.with_name(staging.name + ".old")
    if final.exists():
        # A resumed run saves a step again that a killed run had already published, but never linked.
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    staging.rename(final)
    fsync_dir(final.parent)
    fsync_dir(staging.parent)
    shutil.rmtree(old, ignore_errors=True)
    with contextlib.suppress(OSError):  # only when empty: another staged checkpoint may be in there
        staging.parent.rmdir()


def point(link: Path, target: Path) -> None:
    """Switch the symlink ``link`` to ``target`` (relative) atomically; a real folder at ``link`` (left by an
    older version) is moved aside into ``.best`` first."""
    new = link.with_name(f".{link.name}.new")
    if new.is_symlink() or new.exists():
        new.unlink()
    new.symlink_to(os.path.relpath(target, link.parent))
    if link.is_dir() and not link.is_symlink():
        store = link.parent / BEST_STORE
        store.mkdir(exist_ok=True)
        shutil.rmtree(store / "previous", ignore_errors=True)
        link.rename(store / "previous")
    os.replace(new, link)
    fsync_dir(link.parent)


def save_checkpoint_atomic(checkpoint_dir: Path, write: Callable[[Path], None]) -> None:
    """Write a checkpoint with ``write(folder)`` into staging, publish it as ``checkpoint_dir`` (a
    ``RUN/checkpoints/NNNNNN`` folder) and point ``checkpoints/last`` at it.

    Raises:
        DiskFullError: the disk filled up; the partial checkpoint is removed and ``last`` is left as it was.
    """
    run_dir = checkpoint_dir.parent.parent
    staging = run_dir / STAGING_DIR / checkpoint_dir.name
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        write(staging)
        publish(staging, checkpoint_dir)
        point(checkpoint_dir.parent / LAST_LINK, checkpoint_dir)
    except Exception as err:
        # LeRobot's writers report ENOSPC their own way (safetensors' SafetensorError, torch's "file write failed").
        if not filled_up(err, run_dir):
            raise
        raise _disk_full(run_dir, f"checkpoint {checkpoint_dir.name}", staging) from err


def _disk_full(run_dir: Path, what: str, staging: Path) -> DiskFullError:
    """The one-line error of a full disk that stopped writing ``what`` into ``staging``, which is removed here."""
    written = tree_bytes(staging)
    shutil.rmtree(staging, ignore_errors=True)
    last = run_dir / "checkpoints" / LAST_LINK
    previous = last.resolve() if last.is_symlink() else None
    free = free_bytes(run_dir)
    if previous is None or not previous.is_dir():
        need = written
        kept = f"it needs more than the {mb(written)} written; no earlier checkpoint was saved"
    else:
        need = tree_bytes(previous)
        kept = f"a checkpoint needs about {mb(need)}; checkpoints/last still points at the complete {previous.name}"
    return DiskFullError(
        f"the disk of {run_dir} is full: {what} could not be written ({mb(free)} free; {kept}); free space (older "
        f"checkpoints/NNNNNN folders can go) and continue with so101 train --resume --output_dir {run_dir}",
        path=run_dir,
        need=need,
        free=free,
    )


def publish_best(run_dir: Path, checkpoint_dir: Path, eval_record: dict) -> None:
    """Copy a checkpoint's ``pretrained_model`` and its evaluation (``eval.json``) to ``RUN/.best/NNNNNN`` and
    switch ``RUN/best`` to it; earlier copies are removed once ``best`` no longer points at them.

    Raises:
        DiskFullError: the disk filled up; the partial copy is removed and ``best`` is left as it was.
    """
    store = run_dir / BEST_STORE
    staging = run_dir / STAGING_DIR / f"best_{checkpoint_dir.name}"
    shutil.rmtree(staging, ignore_errors=True)
    final = store / checkpoint_dir.name
    copies = 1
    while final.exists():  # a resumed run's new copy of the same step: never replace the folder best points at
        final, copies = store / f"{checkpoint_dir.name}.{copies}", copies + 1
    try:
        shutil.copytree(checkpoint_dir / "pretrained_model", staging / "pretrained_model")
        (staging / "eval.json").write_text(json.dumps(eval_record, indent=2))
        publish(staging, final)
        point(run_dir / BEST_LINK, final)
    except Exception as err:
        if not filled_up(err, run_dir):
            raise
        raise _disk_full(run_dir, f"the copy of checkpoint {checkpoint_dir.name} for best", staging) from err
    for other in store.iterdir():
        if other != final:
            shutil.rmtree(other, ignore_errors=True)


def checkpoint_problem(checkpoint_dir: Path) -> str | None:
    """Why ``checkpoint_dir`` cannot be resumed from (a missing or unreadable file), or None when it can."""
    pretrained = checkpoint_dir / "pretrained_model"
    state = checkpoint_dir / "training_state"
    for path in (pretrained / "config.json", state / "training_step.json"):
        try:
            json.loads(path.read_text())
        except FileNotFoundError:
            return f"{path} is missing"
        except (ValueError, OSError) as err:
            return f"{path} is not valid JSON ({err})"
    for path in (pretrained / "model.safetensors", state / "optimizer_state.safetensors",
                 state / "rng_state.safetensors"):
        problem = safetensors_problem(path)
        if problem:
            return problem
    return None


def newest_complete(run_dir: Path) -> Path | None:
    """The newest checkpoint of ``run_dir`` that can be resumed from, or None; looks only, changes nothing."""
    return next((c for c in _candidates(run_dir) if checkpoint_problem(c) is None), None)


def how_to_continue(run_dir: Path) -> str:
    """What to do with the folder of a stopped run: ``--resume`` from its newest complete checkpoint, else start
    again in a new folder (nothing can be continued)."""
    checkpoint = newest_complete(run_dir)
    if checkpoint is not None:
        return (f"continue it from checkpoint {checkpoint.name} with: so101 train --resume true --output_dir "
                f"{run_dir}")
    return (f"it has no complete checkpoint to continue from: start again with a new --output_dir, or remove "
            f"{run_dir} first")


def check_new_run_dir(run_dir: Path, config_name: str) -> None:
    """A run that does not resume starts in a folder holding no run (its config ``config_name``, checkpoints,
    staging or wandb id): over one it would overwrite the config and continue its wandb run.

    Raises:
        ConfigError: the folder holds a run; the message says how to continue it or where to start instead.
    """
    held = [name for name in (config_name, "checkpoints", STAGING_DIR, RUN_ID_FILE) if (run_dir / name).exists()]
    if held:
        raise ConfigError(
            "output_dir", str(run_dir),
            f"must not hold a run unless --resume (it holds {', '.join(held)}); {how_to_continue(run_dir)}",
        )  # fmt: skip


def _candidates(run_dir: Path) -> list[Path]:
    """The run's ``checkpoints/NNNNNN`` folders, newest first."""
    checkpoints = run_dir / "checkpoints"
    if not checkpoints.is_dir():
        return []
    found = (p for p in checkpoints.iterdir() if p.name.isdigit() and p.is_dir() and not p.is_symlink())
    return sorted(found, key=lambda p: int(p.name), reverse=True)


def resume_checkpoint(run_dir: Path, log: Callable[[str], None] = print) -> Path:
    """The checkpoint to resume ``run_dir`` from: the newest complete one, with ``checkpoints/last`` pointing at
    it; staging leftovers of a killed run are removed.

    Raises:
        FileNotFoundError: no complete checkpoint in the run (each incomplete one is named with its problem).
    """
    staging = run_dir / STAGING_DIR
    if staging.exists():
        log(f"removing {staging}: checkpoints a killed run had not finished writing")
        shutil.rmtree(staging)
    checkpoints = run_dir / "checkpoints"
    skipped = []
    for candidate in _candidates(run_dir):
        problem = checkpoint_problem(candidate)
        if problem is None:
            for name, why in skipped:
                log(f"warning: skipping checkpoint {name}: {why}")
            last = checkpoints / LAST_LINK
            if not last.is_symlink() or last.resolve() != candidate.resolve():
                point(last, candidate)
            return candidate
        skipped.append((candidate.name, problem))
    detail = "; ".join(why for _name, why in skipped) or f"{checkpoints} holds no checkpoint"
    raise FileNotFoundError(
        f"nothing to resume in {run_dir}: {detail}; start the run again without --resume (in a new --output_dir)"
    )
