"""``so101 dataset delete-episodes``: LeRobot's own ``delete_episodes``, with the workbench's scenes kept in step.

    so101 dataset delete-episodes --dataset.root data/pick --episodes "[1, 3]"      # replaced, original kept aside
    so101 dataset delete-episodes --dataset.root data/pick --episodes "[1, 3]" --output data/pick_clean

LeRobot (``lerobot.datasets.dataset_tools.delete_episodes``, as ``lerobot-edit-dataset`` runs it) writes the new
dataset; the scene of every kept episode follows it to its new index in ``meta/so101/episodes.jsonl``, so that
``replay`` and ``validate`` re-simulate the right scene. Without ``--output`` the new dataset takes the original's
place in one atomic step and the original is kept as ``<root>.backup-<time>`` (``so101.recording.dataset_replace``);
nothing is modified in place. Either way, a kill leaves the original or the complete result, never a partial one.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from so101.command import run_command
from so101.errors import ConfigError, DatasetError
from so101.recording.content_hashes import write_all
from so101.recording.dataset_checks import check_openable
from so101.recording.dataset_lock import DatasetLock
from so101.recording.dataset_replace import InPlaceReplacement
from so101.recording.dataset_writer import DatasetRef
from so101.recording.disk_space import filled_up, filled_up_error, tree_bytes
from so101.recording.scene_metadata import EpisodeRecord, SceneMetadata
from so101.recording.staged_output import StagedOutput
from so101.recording.video_checks import check_videos

COMMAND = "dataset delete-episodes"


@dataclass
class DeleteConfig:
    """Options of ``so101 dataset delete-episodes``."""

    dataset: DatasetRef = field(default_factory=DatasetRef)
    """The dataset to remove episodes from (``--dataset.root``)."""
    episodes: list[int] = field(default_factory=list)
    """Indices of the episodes to remove: ``--episodes "[1, 3]"``."""
    output: Path | None = None
    """Write the result here (a new folder) and leave the dataset as it is; default: replace the dataset, keeping
    the original as ``<root>.backup-<time>``."""

    def __post_init__(self) -> None:
        if not self.episodes:
            raise ValueError('--episodes must name at least one episode index, e.g. --episodes "[1, 3]"')
        if min(self.episodes) < 0:
            raise ConfigError("episodes", self.episodes, "must be episode indices (0 or more)")


def renumbered_scenes(records: list[EpisodeRecord], removed: set[int]) -> list[EpisodeRecord]:
    """The scene records of the kept episodes, renumbered 0.. in their order, as LeRobot renumbers the episodes."""
    kept = sorted((r for r in records if r.episode_index not in removed), key=lambda r: r.episode_index)
    return [EpisodeRecord(new, r.session, r.placement, r.outcome, r.frames, r.phases) for new, r in enumerate(kept)]


def delete_episodes(root: Path, repo_id: str, episodes: list[int], output: Path) -> int:
    """Write ``root`` without ``episodes`` into the new folder ``output``; returns the episodes kept."""
    from lerobot.datasets.dataset_tools import delete_episodes as lerobot_delete
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    info = check_openable(root, "--dataset.root")
    total = info["total_episodes"]
    unknown = sorted(set(episodes) - set(range(total)))
    if unknown:
        raise DatasetError(f"--episodes {unknown}: {root} holds episodes 0..{total - 1}; choose among those")
    if len(set(episodes)) == total:
        raise DatasetError(f"--episodes names every episode of {root}; a dataset needs at least one")
    check_videos(root, info, "--dataset.root", set(range(total)) - set(episodes))
    metadata = SceneMetadata(root)
    records = metadata.episodes() if metadata.exists() else []
    if metadata.exists() and sorted(r.episode_index for r in records) != list(range(total)):
        raise DatasetError(
            f"{metadata.episodes_path} does not list one scene per episode 0..{total - 1}; the scenes cannot be "
            f"kept in step: run so101 dataset repair --dataset.root {root} first"
        )
    lerobot_delete(LeRobotDataset(repo_id, root=root), sorted(set(episodes)), output_dir=output, repo_id=repo_id)
    if metadata.exists():
        SceneMetadata(output).write_all(metadata.sessions(), renumbered_scenes(records, set(episodes)))
        write_all(output)
    return total - len(set(episodes))


def _delete(cfg: DeleteConfig) -> int:
    root = cfg.dataset.resolved_root()
    if cfg.output is None:
        # The dataset is replaced: no one else may write it meanwhile.
        fix = "copy the dataset to a writable disk, or write the result elsewhere with --output NEW_FOLDER"
        with DatasetLock(root, COMMAND, create_parent=False, fix=fix):
            return _replace(cfg, root)
    # Read while the new folder is written: no one may write it meanwhile (a read-only one, no one can).
    with DatasetLock(root, COMMAND, create_parent=False, reading=True):
        return _write_output(cfg, root, cfg.output)


def _write_output(cfg: DeleteConfig, root: Path, output: Path) -> int:
    staged = StagedOutput(output, COMMAND, "--output")
    with staged as staging:
        kept = delete_episodes(root, cfg.dataset.repo_id, cfg.episodes, staging)
        staged.commit()
    print(f"{COMMAND}: {output} holds {kept} episode(s), renumbered 0..{kept - 1}; {root} is unchanged")
    return 0


def _replace(cfg: DeleteConfig, root: Path) -> int:
    replacement = InPlaceReplacement(root, COMMAND)
    request = f"--episodes {sorted(set(cfg.episodes))}"
    if replacement.recover() == request:
        return 0  # the same command, killed once its result was complete: recover finished it and said so
    try:
        kept = delete_episodes(root, cfg.dataset.repo_id, cfg.episodes, replacement.staging)
    except Exception as error:
        written = tree_bytes(replacement.staging)
        shutil.rmtree(replacement.staging, ignore_errors=True)
        if filled_up(error, root.parent):
            raise filled_up_error(COMMAND, root.parent, "--output", "the new dataset", None, written) from error
        raise
    backup = replacement.replace(request)
    print(f"{COMMAND}: {root} holds {kept} episode(s), renumbered 0..{kept - 1}; the original is in {backup}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 dataset delete-episodes``."""
    return run_command(COMMAND, DeleteConfig, _delete, argv)
