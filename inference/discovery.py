"""Finding the checkpoints to evaluate: one checkpoint, or every checkpoint of a training run, and their steps."""

from __future__ import annotations

import json
from pathlib import Path


def checkpoint_step(pretrained_dir: Path) -> int | None:
    """Training step of a checkpoint: its ``training_state/training_step.json`` or ``best/eval.json``, else its
    folder's number."""
    state = pretrained_dir.parent / "training_state" / "training_step.json"
    if state.is_file():
        return int(json.loads(state.read_text())["step"])
    best = pretrained_dir.parent / "eval.json"  # a run's best/ copy records where it came from
    if best.is_file():
        return json.loads(best.read_text()).get("step")
    name = pretrained_dir.parent.name
    return int(name) if name.isdigit() else None


def find_checkpoints(path: Path | str) -> list[Path]:
    """``pretrained_model`` directories under ``path``: every checkpoint of a run, or the one checkpoint given.

    Raises:
        FileNotFoundError: ``path`` does not exist, or holds neither a checkpoint nor a run's checkpoints.
    """
    from so101.policies.checkpoint import resolve_pretrained_dir

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist; give a checkpoint folder (config.json and model.safetensors, or their "
            "pretrained_model folder) or a training run folder"
        )
    checkpoints_dir = path / "checkpoints"
    if checkpoints_dir.is_dir():
        found = sorted(
            p / "pretrained_model"
            for p in checkpoints_dir.iterdir()
            if not p.is_symlink() and (p / "pretrained_model" / "model.safetensors").is_file()
        )
        if not found:
            raise FileNotFoundError(f"{checkpoints_dir} holds no checkpoint (checkpoints/NNNNNN/pretrained_model)")
        return found
    return [resolve_pretrained_dir(path)]


def default_output_dir(path: Path) -> Path:
    """Where ``so101 eval PATH`` writes its reports: ``PATH/eval`` for a run, else next to the checkpoint."""
    if (path / "checkpoints").is_dir():
        return path / "eval"
    pretrained = Path(path)
    if pretrained.name != "pretrained_model" and (pretrained / "pretrained_model").is_dir():
        pretrained = pretrained / "pretrained_model"
    return pretrained.parent / "eval"
