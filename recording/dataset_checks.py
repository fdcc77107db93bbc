"""Read-only checks that a dataset folder can be opened, before LeRobot or the workbench opens it.

A corrupted or foreign dataset makes LeRobot fail deep inside pyarrow, pandas or json with a traceback that names
neither the file nor the fix; ``check_openable`` finds the first such problem itself and raises one
``DatasetError`` line: the flag, the file, the problem and what to run. It never writes anything. It checks the
metadata (``info.json``, tasks, ``stats.json`` shapes, episode counts and index ranges), the parquet footers and
frame counts, the data files against their SHA-256 at save (``content_hashes``), row widths, timestamps, NaN and
``meta/so101``; the videos' content is ``video_checks``' to check, by the commands that read them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from so101.errors import DatasetError

REPAIR_HINT = "run so101 dataset repair --dataset.root {root} (it writes a repaired copy), or record the dataset again"
INFO_FIX = "restore meta/info.json from a copy of the dataset (nothing can read the dataset without it)"


def problem(flag: str, root: Path, path: Path, what: str, fix: str | None = None) -> DatasetError:
    """The one line that names the file (relative to the dataset), the problem and the fix."""
    try:
        name = path.relative_to(root)
    except ValueError:
        name = path
    return DatasetError(f"{flag} {root}: {name} {what}; {fix or REPAIR_HINT.format(root=root)}")


def read_info(root: Path, flag: str, so101_features: bool = True) -> dict[str, Any]:
    """``meta/info.json``, checked to be a LeRobot v3.0 description with features, fps and counts, and with
    ``so101_features`` the SO-101's joint state and action (readers of other joint names check those themselves)."""
    path = root / "meta" / "info.json"
    if not root.is_dir():
        raise problem(flag, root, root, "does not exist", "give the folder of a LeRobot v3.0 dataset")
    if not path.is_file():
        raise problem(
            flag, root, path, "is missing: the folder is not a LeRobot dataset",
            "give the folder of a LeRobot v3.0 dataset, as so101 record --dataset.root wrote it",
        )
    try:
        info = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise problem(flag, root, path, f"is not valid JSON ({error})", INFO_FIX) from None
    if not isinstance(info, dict):
        raise problem(flag, root, path, "is not a JSON object", INFO_FIX)
    version = info.get("codebase_version")
    if version != "v3.0":
        raise problem(
            flag, root, path, f"says codebase_version {version!r}, not 'v3.0'",
            "convert it with LeRobot's lerobot/datasets/v30/convert_dataset_v21_to_v30.py",
        )
    for key, kind in (("features", dict), ("fps", int), ("total_episodes", int), ("total_frames", int)):
        value = info.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise problem(flag, root, path, f"has no valid {key!r} (found {value!r})", INFO_FIX)
    if info["fps"] <= 0:
        raise problem(flag, root, path, f"has fps {info['fps']}, which must be positive", INFO_FIX)
    for name, feature in info["features"].items():
        if not isinstance(feature, dict) or "dtype" not in feature or not isinstance(feature.get("shape"), list):
            raise problem(flag, root, path, f"describes feature {name!r} without a dtype and a shape", INFO_FIX)
    if so101_features:
        _check_so101_features(root, path, info, flag)
    return info


def _check_so101_features(root: Path, path: Path, info: dict[str, Any], flag: str) -> None:
    """The SO-101's joint state and action, in LeRobot's names and order: what every workbench command needs. An
    end-effector dataset (``so101 convert-ee``) holds ``ee.*`` features there and keeps the joints as ``joints.*``."""
    from so101.kinematics.ee_features import EELayout
    from so101.kinematics.units import JOINT_FEATURE_NAMES

    def is_joints(feature: dict[str, Any] | None) -> bool:
        return (
            feature is not None
            and tuple(feature["shape"]) == (6,)
            and feature.get("names") == list(JOINT_FEATURE_NAMES)
        )

    features = info["features"]
    for key in ("observation.state", "action"):
        feature = features.get(key)
        if is_joints(feature):
            continue
        is_ee = feature is not None and EELayout.from_names(feature.get("names") or []) is not None
        if is_ee and is_joints(features.get(f"joints.{key}")):
            continue
        found = "missing" if feature is None else f"{tuple(feature['shape'])} {feature.get('names')}"
        raise problem(
            flag, root, path, f"feature {key} is {found}, not the SO-101's 6 joints {list(JOINT_FEATURE_NAMES)}",
            "give a dataset of an SO-101 arm (so101 record, or lerobot-record with so101_follower or so101_sim), or "
            "its end-effector conversion by so101 convert-ee",
        )


def _parquet_rows(root: Path, path: Path, flag: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return int(pq.read_metadata(path).num_rows)
    except (OSError, pa.ArrowException) as error:
        raise problem(flag, root, path, f"is truncated or not a parquet file ({str(error)[:120]})") from None


def read_parquet(root: Path, path: Path, flag: str, columns: list[str] | None = None) -> Any:
    """The parquet file at ``path`` as a pandas DataFrame (``columns`` only); a damaged file raises one line."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns).to_pandas()
    except (OSError, pa.ArrowException, KeyError) as error:
        raise problem(flag, root, path, f"cannot be read ({str(error)[:120]})") from None


def check_openable(root: Path, flag: str, so101_features: bool = True) -> dict[str, Any]:
    """Check everything LeRobot reads when it opens ``root`` (with ``so101_features``, also that it holds the
    SO-101's joints: ``read_info``); returns ``info.json``.

    Raises:
        DatasetError: the first problem found, naming its file and the fix.
    """
    root = Path(root)
    info = read_info(root, flag, so101_features)
    if info["total_episodes"] == 0 and not any((root / "data").glob("*/*.parquet")):
        raise problem(
            flag, root, root / "meta" / "info.json", "says the dataset holds no episode (a session that saved nothing)",
            "remove the folder, then record without --resume",
        )
    tasks = root / "meta" / "tasks.parquet"
    if not tasks.is_file():
        raise problem(flag, root, tasks, "is missing (the dataset's task strings)")
    if read_parquet(root, tasks, flag).empty:
        raise problem(flag, root, tasks, "holds no task")
    _check_stats(root, info, flag)
    episode_files = sorted((root / "meta" / "episodes").glob("*/*.parquet"))
    if not episode_files:
        raise problem(flag, root, root / "meta" / "episodes", "holds no episodes metadata")
    episodes = sum(_parquet_rows(root, path, flag) for path in episode_files)
    if episodes != info["total_episodes"]:
        raise problem(
            flag, root, root / "meta" / "episodes",
            f"describes {episodes} episode(s) but meta/info.json says {info['total_episodes']}",
        )
    _check_episode_ranges(root, info, episode_files, flag)
    data_files = sorted((root / "data").glob("*/*.parquet"))
    frames = sum(_parquet_rows(root, path, flag) for path in data_files)
    if frames != info["total_frames"]:
        raise problem(
            flag, root, root / "data", f"holds {frames} frame(s) but meta/info.json says {info['total_frames']}"
        )
    _check_video_files(root, info, episode_files, flag)
    check_content(root, flag, videos=False)
    _check_numbers(root, info, data_files, flag)
    _check_scene_files(root, flag)
    return info


def check_content(root: Path, flag: str, videos: bool = True) -> None:
    """The episode files match the SHA-256 written when they were saved (``content_hashes``; ``videos=False``: the
    data files only); nothing to check for a dataset without ``meta/so101/content_hashes.jsonl``.

    Raises:
        DatasetError: the first file that changed, with its episodes and the fix.
    """
    from so101.recording.content_hashes import HASHES_FILE, mismatches

    try:
        changed = mismatches(root, videos)
    except ValueError as error:
        raise problem(flag, root, root / HASHES_FILE, str(error)) from None
    if changed:
        name, episodes = changed[0]
        raise problem(
            flag, root, root / name,
            f"is not the file that was saved (its SHA-256 differs from {HASHES_FILE.name}'s: bit rot, or an edit); "
            f"it holds episode(s) {episodes}",
            f"run so101 dataset repair --dataset.root {root} (it writes a copy without those episodes), or restore "
            "the file from a copy",
        )


def _check_stats(root: Path, info: dict[str, Any], flag: str) -> None:
    """``meta/stats.json``, when present, maps features to their statistics, each as long as the feature."""
    import numpy as np

    path = root / "meta" / "stats.json"
    if not path.is_file():
        return
    try:
        stats = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise problem(flag, root, path, f"is not valid JSON ({error})") from None
    if not isinstance(stats, dict) or not all(isinstance(value, dict) for value in stats.values()):
        raise problem(flag, root, path, f"is not an object of features' statistics (found {str(stats)[:40]})")
    for key, feature in info["features"].items():
        if key not in stats or not str(feature["dtype"]).startswith("float") or len(feature["shape"]) != 1:
            continue
        for stat in ("mean", "std", "min", "max"):
            if stat not in stats[key]:
                continue
            try:
                length = np.asarray(stats[key][stat], dtype=np.float64).shape
            except (TypeError, ValueError):
                length = None
            if length != tuple(feature["shape"]):
                raise problem(
                    flag, root, path,
                    f"holds {key}'s {stat} with shape {length}, but meta/info.json gives the feature shape "
                    f"{tuple(feature['shape'])}",
                )


def _check_episode_ranges(root: Path, info: dict[str, Any], episode_files: list[Path], flag: str) -> None:
    """Episodes 0..n-1, each a ``[dataset_from_index, dataset_to_index)`` span of its length inside the frames."""
    columns = ["episode_index", "length", "dataset_from_index", "dataset_to_index"]
    seen: set[int] = set()
    total = info["total_frames"]
    for path in episode_files:
        table = read_parquet(root, path, flag, columns)
        for index, length, start, stop in table.itertuples(index=False):
            if not 0 <= index < info["total_episodes"] or index in seen:
                last = info["total_episodes"] - 1
                raise problem(flag, root, path, f"lists episode {index} twice or outside 0..{last}")
            if not 0 <= start <= stop <= total or stop - start != length:
                raise problem(
                    flag, root, path,
                    f"places episode {index}'s {length} frames at [{start}, {stop}), not within the dataset's "
                    f"{total} frames",
                )
            seen.add(int(index))


def _check_scene_files(root: Path, flag: str) -> None:
    """The workbench's ``meta/so101`` files, when present, parse (their agreement with the episodes is
    ``validate``'s and ``replay``'s to judge)."""
    from so101.recording.scene_metadata import SceneMetadata

    metadata = SceneMetadata(root)
    fix = f"restore it from a copy, or run so101 dataset repair --dataset.root {root}"
    if metadata.exists():
        try:
            sessions = metadata.sessions()
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            what = f"is not a valid session file ({error!s:.80})"
            raise problem(flag, root, metadata.recording_path, what, fix) from None
        except ValueError as error:  # a format this workbench does not read
            raise problem(flag, root, metadata.recording_path, str(error), "update the workbench") from None
        if not isinstance(sessions, list) or not all(isinstance(s, dict) for s in sessions):
            raise problem(flag, root, metadata.recording_path, "does not hold a list of sessions", fix)
    try:
        metadata.episodes()
    except (UnicodeDecodeError, ValueError) as error:
        what = f"has a line that is not a scene ({error!s:.100})"
        raise problem(flag, root, metadata.episodes_path, what, fix) from None


def _check_video_files(root: Path, info: dict[str, Any], episode_files: list[Path], flag: str) -> None:
    video_keys = [key for key, feature in info["features"].items() if feature["dtype"] == "video"]
    template = info.get("video_path")
    if not video_keys:
        return
    if not isinstance(template, str):
        raise problem(flag, root, root / "meta" / "info.json", "has video features but no 'video_path'")
    for path in episode_files:
        columns = [f"videos/{key}/{field}" for key in video_keys for field in ("chunk_index", "file_index")]
        table = read_parquet(root, path, flag, ["episode_index", *columns])
        for row in table.itertuples(index=False):
            values = dict(zip(["episode_index", *columns], row, strict=True))
            for key in video_keys:
                video = root / template.format(
                    video_key=key,
                    chunk_index=int(values[f"videos/{key}/chunk_index"]),
                    file_index=int(values[f"videos/{key}/file_index"]),
                )
                if not video.is_file() or video.stat().st_size == 0:
                    raise problem(
                        flag, root, video, f"is missing or empty (episode {values['episode_index']}'s {key})"
                    )


def _check_widths(root: Path, info: dict[str, Any], path: Path, table: Any, keys: list[str], flag: str) -> None:
    """Every row of a vector feature holds as many values as ``meta/info.json``'s shape says."""
    for key in keys:
        shape = info["features"][key]["shape"]
        if len(shape) != 1:
            continue
        widths = {len(value) if hasattr(value, "__len__") else 1 for value in table[key]}
        if widths - {shape[0]}:
            raise problem(
                flag, root, path,
                f"holds {key} rows {sorted(widths)} wide, but meta/info.json describes it as {shape[0]} wide",
                "give a dataset of the SO-101's 6 joints, or put back the shape it was recorded with in "
                "meta/info.json",
            )


def _check_numbers(root: Path, info: dict[str, Any], data_files: list[Path], flag: str) -> None:
    """No NaN or infinity in any float feature: a policy trained on one learns nothing useful."""
    import numpy as np

    keys = [k for k, f in info["features"].items() if str(f["dtype"]).startswith("float") and k != "timestamp"]
    fps = info["fps"]
    for path in data_files:
        table = read_parquet(root, path, flag, [*keys, "timestamp", "frame_index"])
        _check_widths(root, info, path, table, keys, flag)
        steps = np.asarray(table["timestamp"], dtype=np.float64) - np.asarray(table["frame_index"]) / fps
        if steps.size and np.abs(steps).max() > 1e-3:
            raise problem(
                flag, root, root / "meta" / "info.json",
                f"says fps {fps}, but the timestamps of {path.relative_to(root)} are not frame_index/{fps}",
                "put back the fps the dataset was recorded at (its timestamps tell it)",
            )
        for key in keys:
            values = np.asarray(table[key].tolist(), dtype=np.float64)
            if values.size and not np.isfinite(values).all():
                bad = int(np.argwhere(~np.isfinite(values.reshape(len(values), -1)))[0][0])
                raise problem(
                    flag, root, path, f"has a non-finite {key} (NaN or infinity) at its row {bad}",
                    "drop the episode with so101 dataset delete-episodes, or record it again",
                )
