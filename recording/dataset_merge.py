"""``so101 dataset merge``: LeRobot's ``aggregate_datasets``, with the workbench's scenes and sessions carried over.

    so101 dataset merge --roots "[data/a, data/b]" --output.root data/ab --output.repo_id me/so101_ab

Datasets that cannot be merged (fps, robot type, a feature such as a camera's image size) are refused with the
differing feature named in one line, before LeRobot's own check prints its feature dictionaries. Episodes that
share a scene seed with an earlier dataset's are merged and counted in a warning: the same scenes twice weigh
twice in training. Datasets of ``lerobot-record`` (no ``meta/so101``) merge too; the result then has no scenes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from so101.command import run_command
from so101.errors import DatasetError
from so101.recording.content_hashes import write_all
from so101.recording.dataset_checks import check_openable
from so101.recording.dataset_tools import validate
from so101.recording.dataset_writer import DatasetRef
from so101.recording.disk_space import tree_bytes
from so101.recording.scene_metadata import EpisodeRecord, SceneMetadata
from so101.recording.staged_output import StagedOutput
from so101.recording.video_checks import check_videos


@dataclass
class MergeConfig:
    """Options of ``so101 dataset merge``."""

    roots: list[Path] = field(default_factory=list)
    """Datasets to merge, in order; episode indices follow this order: ``--roots "[data/a, data/b]"``."""
    output: DatasetRef = field(default_factory=lambda: DatasetRef(repo_id="local/so101_merged"))
    """The merged dataset to create (``--output.root``, a new folder; ``--output.repo_id``)."""


def _describe(feature: dict[str, Any]) -> str:
    return f"{feature.get('dtype')} {tuple(feature.get('shape') or ())}"


def incompatibility(first: Path, first_info: dict[str, Any], other: Path, info: dict[str, Any]) -> str | None:
    """What keeps ``other`` from merging with ``first``, in one short phrase naming the feature; None if nothing."""
    for key in ("fps", "robot_type"):
        if first_info.get(key) != info.get(key):
            return f"{key} differs: {first} has {first_info.get(key)!r}, {other} has {info.get(key)!r}"
    features, others = first_info["features"], info["features"]
    for key in sorted(set(features) | set(others)):
        if key not in others or key not in features:
            where = other if key not in others else first
            return f"feature {key} is missing from {where}"
        a, b = features[key], others[key]
        if _describe(a) != _describe(b):
            return f"feature {key} differs: {_describe(a)} in {first}, {_describe(b)} in {other}"
        if a.get("names") != b.get("names"):
            return f"feature {key} differs: names {a.get('names')} in {first}, {b.get('names')} in {other}"
        if a.get("info") != b.get("info"):
            codec_a, codec_b = (f.get("info", {}).get("video.codec") for f in (a, b))
            return f"feature {key} differs in its video encoding ({codec_a} in {first}, {codec_b} in {other})"
    return None


def shared_seeds(roots: list[Path]) -> list[str]:
    """One warning per dataset whose episodes reuse scene seeds of the datasets before it."""
    seen: set[int] = set()
    warnings = []
    for root in roots:
        placements = [r.placement for r in SceneMetadata(root).episodes() if r.placement is not None]
        seeds = [p.seed for p in placements if p.seed is not None]
        repeated = sum(seed in seen for seed in seeds)
        if repeated:
            warnings.append(
                f"{repeated} episode(s) of {root} use scene seeds already in the datasets before it: those scenes "
                "appear twice (record with another --seed to get new ones)"
            )
        seen.update(seeds)
    return warnings


def merge(roots: list[Path], output_root: Path, output_repo_id: str) -> tuple[int, list[str]]:
    """Merge datasets with LeRobot's ``aggregate_datasets``; returns the episodes written and the warnings."""
    from lerobot.datasets.aggregate import aggregate_datasets

    if len(roots) < 2:
        raise DatasetError('merge needs at least two datasets: --roots "[data/a, data/b]"')
    if output_root.exists():
        raise FileExistsError(f"{output_root} exists already; choose a new --output.root")
    infos = [check_openable(root, "--roots") for root in roots]
    for root, info in zip(roots[1:], infos[1:], strict=True):
        reason = incompatibility(roots[0], infos[0], root, info)
        if reason is not None:
            raise DatasetError(f"cannot merge: {reason}; merge datasets recorded with the same settings")
    for root, info in zip(roots, infos, strict=True):
        check_videos(root, info, "--roots")
    for root in roots:
        problems = validate(root, resimulate=False)
        if problems:
            raise DatasetError(f"{root} is not sound, fix it before merging: " + "; ".join(problems))
    warnings = shared_seeds(roots)
    foreign = [root for root in roots if not SceneMetadata(root).exists()]
    aggregate_datasets(
        repo_ids=[f"local/{root.name}" for root in roots],
        aggr_repo_id=output_repo_id,
        roots=list(roots),
        aggr_root=output_root,
    )
    total = sum(info["total_episodes"] for info in infos)
    if foreign:
        warnings.append(
            f"{', '.join(map(str, foreign))} {'has' if len(foreign) == 1 else 'have'} no workbench metadata "
            "(recorded by lerobot-record?): the merged dataset has no scenes; replay and validate's re-simulation "
            "will not work on it"
        )
        return total, warnings
    sessions: list[dict] = []
    records: list[EpisodeRecord] = []
    for root, info in zip(roots, infos, strict=True):
        metadata = SceneMetadata(root)
        base, offset = len(sessions), len(records)
        sessions += [{**session, "merged_from": str(root)} for session in metadata.sessions()]
        for r in sorted(metadata.episodes(), key=lambda record: record.episode_index):
            records.append(
                EpisodeRecord(r.episode_index + offset, r.session + base, r.placement, r.outcome, r.frames, r.phases)
            )
        assert len(records) - offset == info["total_episodes"]  # validate checked one scene per episode
    SceneMetadata(output_root).write_all(sessions, records)
    write_all(output_root)
    return total, warnings


def _merge(cfg: MergeConfig) -> int:
    root = cfg.output.resolved_root()
    # Written beside the output and moved into place whole: a killed merge leaves no half-merged dataset. LeRobot
    # copies the sources' files: the output takes their size.
    need = sum(tree_bytes(Path(source)) for source in cfg.roots)
    output = StagedOutput(root, "dataset merge", "--output.root", need=need)
    with output as staging:
        count, warnings = merge(list(cfg.roots), staging, cfg.output.repo_id)
        output.commit()
    problems = validate(root, cfg.output.repo_id, resimulate=False)
    print(f"merged {len(cfg.roots)} datasets into {root}: {count} episodes")
    for warning in warnings:
        print(f"  warning: {warning}")
    for problem in problems:
        print(f"  problem: {problem}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 dataset merge``."""
    return run_command("dataset merge", MergeConfig, _merge, argv)
