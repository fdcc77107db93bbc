"""``so101 dataset info|validate``: look into and check datasets (``merge``: ``so101.recording.dataset_merge``).

    so101 dataset info --dataset.root data/pick
    so101 dataset validate --dataset.root data/pick

``validate`` re-simulates every episode from its scene and actions and checks that ``observation.state`` is the
robot's joints, that each camera's video covers each episode, that fps, features, robot type and task agree with
the recording's metadata, that every episode has its scene, and that an end-effector dataset's ``ee.*`` features
are the forward kinematics of its kept joints (``so101.recording.convert_ee_check``). It prints each problem with
what to do about it.
Datasets of ``lerobot-record`` with the ``so101_sim`` robot plugin have no workbench metadata: ``validate`` checks
what LeRobot's files allow and says what it could not check (``unchecked``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from so101.command import run_command
from so101.kinematics.units import JOINT_FEATURE_NAMES
from so101.recording.content_hashes import HASHES_FILE
from so101.recording.convert_ee_check import check_ee_features
from so101.recording.dataset_checks import check_content, read_info
from so101.recording.dataset_writer import ROBOT_TYPES, DatasetRef, dataset_features, feature_mismatches
from so101.recording.scene_metadata import SCENELESS_SOURCES, EpisodeRecord, SceneMetadata
from so101.recording.video_checks import check_videos
from so101.sim.scene import CameraConfig

STATE_TOLERANCE = 1e-2
"""Largest difference (dataset units) between recorded state and re-simulated joints that still counts as equal."""


@dataclass
class InspectConfig:
    """Options of ``so101 dataset info`` and ``so101 dataset validate``."""

    dataset: DatasetRef = field(default_factory=DatasetRef)
    """The dataset to look at (``--dataset.root``, or ``--dataset.repo_id`` in LeRobot's cache)."""
    resimulate: bool = True
    """validate: re-simulate every episode to check ``observation.state`` (a few seconds per 100 episodes)."""


# ---------------------------------------------------------------------- info


def info(root: Path) -> str:
    """A human-readable summary of the dataset at ``root``."""
    import json

    meta_info = json.loads((root / "meta" / "info.json").read_text())
    metadata = SceneMetadata(root)
    features = meta_info["features"]
    lines = [
        f"dataset    {root}",
        (
            f"format     LeRobot {meta_info.get('codebase_version')}, robot_type {meta_info.get('robot_type')}, "
            f"fps {meta_info.get('fps')}"
        ),
        (
            f"episodes   {meta_info.get('total_episodes')} ({meta_info.get('total_frames')} frames, "
            f"{meta_info.get('total_frames', 0) / max(meta_info.get('fps', 1), 1):.1f} s)"
        ),
    ]
    for key, feature in features.items():
        if key in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
            continue
        codec = feature.get("info", {}).get("video.codec") if feature["dtype"] == "video" else None
        lines.append(f"feature    {key}: {feature['dtype']} {tuple(feature['shape'])}" + (f" {codec}" if codec else ""))
    tasks_path = root / "meta" / "tasks.parquet"
    if tasks_path.is_file():
        import pandas as pd

        for task in pd.read_parquet(tasks_path).index:
            lines.append(f"task       {task!r}")
    if metadata.exists():
        episodes = metadata.episodes()
        for index, session in enumerate(metadata.sessions()):
            count = sum(record.session == index for record in episodes)
            lines.append(
                f"session {index}  {session.get('started')}: source {session.get('source')}, {count} episode(s), "
                f"render {session.get('render_profile')}, workbench {session.get('workbench_version')}"
            )
        outcomes: dict[str, int] = {}
        for record in episodes:
            outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
        lines.append("outcomes   " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    else:
        lines.append("scenes     none (not recorded by the workbench: episodes cannot be re-simulated)")
    return "\n".join(lines)


# ---------------------------------------------------------------------- validate


def validate(root: Path, repo_id: str = "local/so101_pickplace", resimulate: bool = True) -> list[str]:
    """Problems of the dataset at ``root``, each with its fix; empty when the dataset is sound."""
    import json

    problems: list[str] = []
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        return [f"{root} is not a LeRobot dataset (no meta/info.json); check --dataset.root"]
    meta_info = json.loads(info_path.read_text())
    try:
        from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

        meta = LeRobotDatasetMetadata(repo_id, root=root)
    except Exception as error:
        return [f"LeRobot cannot open the dataset's metadata ({type(error).__name__}: {error}); was it finalized?"]

    metadata = SceneMetadata(root)
    sessions = metadata.sessions() if metadata.exists() else []
    records = metadata.episodes() if metadata.exists() else []

    problems += _check_features(meta_info, sessions)
    problems += check_ee_features(root)
    if _sceneless(sessions):
        sessions = []  # imported episodes have no scene to check or re-simulate: unchecked() says so
    problems += _check_episodes(root, meta, records, sessions)
    problems += _check_videos(root, meta)
    if sessions and resimulate and not any("scene" in p for p in problems):
        problems += _check_states(root, records)
    return problems


def _sceneless(sessions: list[dict]) -> bool:
    return bool(sessions) and all(session.get("source") in SCENELESS_SOURCES for session in sessions)


def unchecked(root: Path) -> list[str]:
    """What ``validate`` cannot check on ``root`` because ``so101 record`` did not write it, one line each."""
    metadata = SceneMetadata(root)
    if metadata.exists() and _sceneless(metadata.sessions()):
        return [
            "episodes imported (import-hdf5) or deployed on the real arm (deploy) have no simulator scene: not "
            "checked: observation.state against a re-simulation; so101 replay cannot re-simulate them"
        ]
    if metadata.exists() and not (root / HASHES_FILE).is_file():
        return [
            f"no {HASHES_FILE} (recorded by an older workbench): not checked: that the episode files are the ones "
            "saved (bit rot)"
        ]
    if metadata.exists():
        return []
    old = root.with_name(root.name + "_old")
    restore = (
        f"so101 dataset restore-scenes --dataset.root {root} brings them back from {old}"
        if SceneMetadata(old).exists()
        else f'so101 dataset restore-scenes --dataset.root {root} --originals "[<the original>]" brings them back'
    )
    return [
        f"no workbench metadata ({metadata.recording_path.relative_to(root)}): recorded by lerobot-record, or "
        "rewritten by lerobot-edit-dataset, which does not copy meta/so101. LeRobot reads and trains on it as it is; "
        "not checked: the scenes, observation.state against a re-simulation, the recording's fps and cameras; "
        f"so101 replay needs the scenes. If it was made from a workbench dataset, {restore}"
    ]


IMPLAUSIBLE_IMAGE_STD = 0.02
"""Image std (0..1 units) below which ``meta/stats.json`` is taken for LeRobot 0.4.4's uint8 overflow, when the pixels
span over a quarter of the range: camera frames of a scene have a std near 0.1 or more."""


def image_stats_notes(root: Path) -> list[str]:
    """One note when ``meta/stats.json``'s image std looks like LeRobot 0.4.4's (pixels squared in uint8, as
    ``lerobot-record`` and workbench versions before the correction wrote them), with the fix."""
    import json

    stats_path, info_path = root / "meta" / "stats.json", root / "meta" / "info.json"
    if not stats_path.is_file() or not info_path.is_file():
        return []
    stats = json.loads(stats_path.read_text())
    features = json.loads(info_path.read_text())["features"]
    wrong = {}
    for key, feature in features.items():
        values = stats.get(key, {})
        if feature["dtype"] not in ("image", "video") or not {"std", "min", "max"} <= set(values):
            continue
        spread = float(np.max(np.asarray(values["max"]) - np.asarray(values["min"])))
        std = float(np.max(values["std"]))
        if std < IMPLAUSIBLE_IMAGE_STD and spread > 0.25:
            wrong[key] = std
    if not wrong:
        return []
    listed = ", ".join(f"{key} {std:.2g}" for key, std in wrong.items())
    return [
        f"image std in meta/stats.json is implausibly small ({listed}; camera frames have ~0.1): written by LeRobot "
        "0.4.4's statistics, which square uint8 pixels in uint8. A policy normalising images by it "
        f"(use_imagenet_stats false) divides by garbage; so101 dataset repair --dataset.root {root} rebuilds the "
        "dataset with correct statistics"
    ]


def joint_features(features: dict[str, dict]) -> dict[str, dict]:
    """The features as the recording wrote them: an end-effector dataset's kept ``joints.*`` features back in place
    of its ``ee.*`` ones (``so101 convert-ee`` converts nothing else)."""
    kept = {key.removeprefix("joints."): features[key] for key in features if key.startswith("joints.")}
    return {key: feature for key, feature in features.items() if not key.startswith("joints.")} | kept


def _check_features(meta_info: dict, sessions: list[dict]) -> list[str]:
    problems = []
    features = joint_features(meta_info["features"])
    for key in ("observation.state", "action"):
        feature = features.get(key)
        if feature is None:
            problems.append(f"feature {key!r} is missing; the workbench's policies need it")
        elif tuple(feature["shape"]) != (6,) or feature.get("names") != list(JOINT_FEATURE_NAMES):
            problems.append(
                f"feature {key!r} has shape {tuple(feature['shape'])} and names {feature.get('names')}; expected (6,) "
                f"and {list(JOINT_FEATURE_NAMES)} (LeRobot's SO-101 joints, in order)"
            )
    if meta_info.get("robot_type") not in ROBOT_TYPES:
        problems.append(f"robot_type is {meta_info.get('robot_type')!r}, expected one of {list(ROBOT_TYPES)}")
    for index, session in enumerate(sessions):
        if session.get("fps") != meta_info.get("fps"):
            problems.append(
                f"fps mismatch: the dataset says {meta_info.get('fps')}, session {index} recorded at "
                f"{session.get('fps')}; timestamps and videos no longer match the simulation's steps"
            )
        cameras = [CameraConfig(c["name"], c["width"], c["height"]) for c in session.get("cameras", [])]
        expected = dataset_features(cameras, session.get("extra_features"))
        for mismatch in feature_mismatches(expected, features):
            problems.append(f"features differ from what session {index} recorded: {mismatch}")
    return problems


def _check_episodes(root: Path, meta, records: list[EpisodeRecord], sessions: list[dict]) -> list[str]:
    problems = []
    lengths = {int(row["episode_index"]): int(row["length"]) for row in meta.episodes}
    tasks = set(meta.tasks.index) if meta.tasks is not None else set()
    if sessions:
        by_index = {record.episode_index: record for record in records}
        missing = sorted(set(lengths) - set(by_index))
        if missing:
            problems.append(
                f"episodes {missing} have no scene in {SceneMetadata(root).episodes_path.relative_to(root)}; "
                "they cannot be re-simulated (a crash between saving an episode and its scene?). Re-record them"
            )
        extra = sorted(set(by_index) - set(lengths))
        if extra:
            problems.append(f"the scene file lists episodes {extra} that the dataset does not have")
        for index, record in by_index.items():
            if index in lengths and record.frames != lengths[index]:
                problems.append(
                    f"episode {index}: the scene file says {record.frames} frames, the dataset has {lengths[index]}"
                )
            if not 0 <= record.session < len(sessions):
                problems.append(f"episode {index}: session {record.session} does not exist in recording.json")
        wanted_tasks = {session.get("task") for session in sessions}
        if tasks and not tasks <= wanted_tasks:
            problems.append(
                f"task strings {sorted(tasks - wanted_tasks)} differ from the recorded {sorted(wanted_tasks)}"
            )
    if len(tasks) > 1:
        problems.append(
            f"the dataset has {len(tasks)} task strings {sorted(tasks)}; a language-conditioned policy will be given "
            "one of them at run time, so keep exactly one"
        )
    return problems


def _check_videos(root: Path, meta) -> list[str]:
    """Every episode's span of every camera's video exists, lasts its number of frames, and lies in its file."""
    problems = []
    fps = meta.fps
    for key in meta.video_keys:
        ends: dict[Path, float] = {}
        for row in meta.episodes:
            index, length = int(row["episode_index"]), int(row["length"])
            path = root / meta.video_path.format(
                video_key=key,
                chunk_index=int(row[f"videos/{key}/chunk_index"]),
                file_index=int(row[f"videos/{key}/file_index"]),
            )
            if not path.is_file():
                problems.append(f"episode {index}: the video of {key} ({path.relative_to(root)}) is missing")
                continue
            start, end = float(row[f"videos/{key}/from_timestamp"]), float(row[f"videos/{key}/to_timestamp"])
            if round((end - start) * fps) != length:
                problems.append(
                    f"episode {index}: {key} covers {round((end - start) * fps)} frames at {fps} fps, the episode has "
                    f"{length}; frames were dropped or the video's fps differs"
                )
            ends[path] = max(ends.get(path, 0.0), end)
        for path, end in sorted(ends.items()):
            duration = _video_duration(path)
            if duration + 1.0 / fps < end:
                problems.append(
                    f"{path.relative_to(root)} lasts {duration:.2f} s, but episodes reach {end:.2f} s into it; the "
                    "file is truncated"
                )
    return problems


def _video_duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return float(container.duration or 0) / av.time_base


def _check_states(root: Path, records: list[EpisodeRecord]) -> list[str]:
    """Re-simulate each episode: its ``observation.state`` must be the joints the simulation reaches."""
    from so101.recording.replay import load_episodes, make_sim, model_changes, replay_episode

    problems = []
    # An end-effector dataset re-simulates from its kept joint targets: exact, as recorded; that its ee.* actions
    # reach the same joints is what convert-ee's verification (meta/so101/convert_ee.json) measured.
    simulated = [record.episode_index for record in records if record.placement is not None]
    episodes = load_episodes(root, simulated, joint_actions=True)
    sims = {}
    for episode in episodes:
        session = episode.record.session
        if session not in sims:
            sims[session] = make_sim(episode.session)
            changed = model_changes(episode.session, sims[session])
            if changed:
                problems.append(
                    f"session {session}: model files changed since recording ({', '.join(changed)}); states cannot "
                    "be checked against this model. Validate with the workbench version that recorded it"
                )
                continue
        index = episode.record.episode_index
        if np.array_equal(episode.states, episode.actions):
            problems.append(
                f"episode {index}: observation.state equals action at every frame: the state holds the commanded "
                "targets (or the leader arm), not the follower's joints. Record the follower's joints as the state"
            )
            continue
        result = replay_episode(sims[session], episode)
        if result.max_state_error > STATE_TOLERANCE:
            problems.append(
                f"episode {index}: observation.state differs from the simulated joints by up to "
                f"{result.max_state_error:.3g} (dataset units): it is not the robot's joints in this scene "
                "(wrong joints, wrong order, other units, or a different scene). Re-record it"
            )
        elif episode.record.outcome == "success" and not result.success:
            problems.append(f"episode {index}: recorded as a success, its replay does not succeed")
    return problems


# ---------------------------------------------------------------------- command


def _info(cfg: InspectConfig) -> int:
    print(info(cfg.dataset.existing_root()))
    return 0


def _validate(cfg: InspectConfig) -> int:
    root = cfg.dataset.existing_root()
    # Every episode file against its digest at save, then every video decoded: the first damaged file, one line.
    check_content(root, "--dataset.root")
    check_videos(root, read_info(root, "--dataset.root", so101_features=False), "--dataset.root")
    problems = validate(root, cfg.dataset.repo_id, cfg.resimulate)
    notes = unchecked(root) + image_stats_notes(root)
    if problems:
        problems += [f"note: {line}" for line in notes]
        print(f"dataset validate: {root}: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"dataset validate: {root}: OK")
    for line in notes:
        print(f"  note: {line}")
    return 0


def info_main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 dataset info``."""
    return run_command("dataset info", InspectConfig, _info, argv)


def validate_main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 dataset validate``; exits 1 when the dataset has problems."""
    return run_command("dataset validate", InspectConfig, _validate, argv)
