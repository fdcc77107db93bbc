"""``so101 dataset info|validate|merge``: validate names what is wrong; merge keeps videos, scenes and metadata."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from so101.cli import main as so101_main
from so101.recording.dataset_merge import merge
from so101.recording.dataset_tools import validate
from so101.recording.dataset_writer import DatasetConfig
from so101.recording.record import RecordConfig, record
from so101.recording.scene_metadata import SceneMetadata
from so101.sim.options import CameraOptions


def record_small(root: Path, seed: int) -> Path:
    cfg = RecordConfig(
        episodes=2,
        seed=seed,
        dataset=DatasetConfig(repo_id="test/tools", root=root, vcodec="h264"),
        cameras=CameraOptions(width=64, height=48),
    )
    assert record(cfg).saved == 2
    return root


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("tools")
    return record_small(base / "a", seed=0), record_small(base / "b", seed=10)


@pytest.fixture()
def copy_a(datasets: tuple[Path, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(datasets[0], tmp_path / "a"))


def rewrite_data(root: Path, change) -> None:
    """The dataset as if it had been recorded with ``change`` made to its frames (its content hashes too)."""
    from so101.recording.content_hashes import write_all

    for path in (root / "data").glob("chunk-*/file-*.parquet"):
        frame = pd.read_parquet(path)
        change(frame)
        frame.to_parquet(path)
    write_all(root)


def test_a_recorded_dataset_validates(datasets: tuple[Path, Path], capsys) -> None:
    assert validate(datasets[0]) == []
    assert so101_main(["dataset", "validate", "--dataset.root", str(datasets[0])]) == 0
    assert "OK" in capsys.readouterr().out


def test_catches_a_state_that_holds_the_actions(copy_a: Path) -> None:
    def state_from_action(frame: pd.DataFrame) -> None:
        frame["observation.state"] = frame["action"]

    rewrite_data(copy_a, state_from_action)
    (problem,) = [p for p in validate(copy_a) if "episode 0" in p]
    assert "equals action" in problem and "follower's joints" in problem


def test_catches_a_state_with_the_wrong_joints(copy_a: Path, capsys) -> None:
    def swap_lift_and_elbow(frame: pd.DataFrame) -> None:
        frame["observation.state"] = [np.asarray(v)[[0, 2, 1, 3, 4, 5]] for v in frame["observation.state"]]

    rewrite_data(copy_a, swap_lift_and_elbow)
    assert so101_main(["dataset", "validate", "--dataset.root", str(copy_a)]) == 1
    out = capsys.readouterr().out
    assert "episode 0: observation.state differs from the simulated joints" in out
    assert "episode 1: observation.state differs" in out


def test_catches_missing_videos_and_mismatched_fps_and_features(copy_a: Path) -> None:
    (copy_a / "videos" / "observation.images.wrist_cam" / "chunk-000" / "file-000.mp4").unlink()
    info_path = copy_a / "meta" / "info.json"
    info = json.loads(info_path.read_text())
    info["fps"] = 15
    info["features"]["action"]["names"] = ["a", "b", "c", "d", "e", "f"]
    info_path.write_text(json.dumps(info))
    problems = "\n".join(validate(copy_a))
    assert "video of observation.images.wrist_cam" in problems and "is missing" in problems
    assert "fps mismatch: the dataset says 15, session 0 recorded at 30" in problems
    assert "feature 'action'" in problems and "shoulder_pan.pos" in problems


def test_catches_episodes_without_scenes(copy_a: Path) -> None:
    metadata = SceneMetadata(copy_a)
    lines = metadata.episodes_path.read_text().splitlines()
    metadata.episodes_path.write_text(lines[0] + "\n")
    (problem,) = validate(copy_a)
    assert "episodes [1] have no scene" in problem


def test_merge_keeps_every_episode_video_scene_and_session(datasets: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    a, b = datasets
    out = tmp_path / "merged"
    argv = ["dataset", "merge", "--roots", f"[{a}, {b}]", "--output.root", str(out), "--output.repo_id", "test/merged"]
    assert so101_main(argv) == 0
    assert "4 episodes" in capsys.readouterr().out
    assert validate(out) == []  # re-simulates all four episodes from the carried-over scenes
    merged = SceneMetadata(out)
    assert [r.placement.seed for r in merged.episodes()] == [0, 1, 10, 11]
    assert [r.session for r in merged.episodes()] == [0, 0, 1, 1]
    assert [s["merged_from"] for s in merged.sessions()] == [str(a), str(b)]
    dataset = LeRobotDataset("test/merged", root=out)
    assert dataset.meta.total_episodes == 4
    last = dataset[len(dataset) - 1]  # the second dataset's frames decode from the merged videos
    assert last["observation.images.overhead_cam"].shape == (3, 48, 64)
    with pytest.raises(FileExistsError):
        merge([a, b], out, "test/merged")


def test_info_summarizes_the_dataset(datasets: tuple[Path, Path], capsys) -> None:
    assert so101_main(["dataset", "info", "--dataset.root", str(datasets[0])]) == 0
    out = capsys.readouterr().out
    assert "robot_type so101_follower, fps 30" in out
    assert "episodes   2" in out and "source scripted" in out and "success 2" in out
    assert so101_main(["dataset", "frobnicate"]) == 2
    assert so101_main(["dataset", "info", "--dataset.root", str(datasets[0].parent / "nothing")]) == 2


def as_lerobot_record_dataset(root: Path) -> Path:
    """What ``lerobot-record --robot.type=so101_sim`` writes: the same files, robot_type so101_sim, no meta/so101."""
    info_path = root / "meta" / "info.json"
    info = json.loads(info_path.read_text())
    info["robot_type"] = "so101_sim"
    info_path.write_text(json.dumps(info, indent=4))
    shutil.rmtree(root / "meta" / "so101")
    return root


def test_a_lerobot_record_dataset_validates_saying_what_was_not_checked(copy_a: Path, capsys) -> None:
    as_lerobot_record_dataset(copy_a)
    assert validate(copy_a) == []
    assert so101_main(["dataset", "validate", "--dataset.root", str(copy_a)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "note: no workbench metadata" in out and "re-simulation" in out


def test_merge_accepts_lerobot_record_datasets_and_names_a_robot_type_mismatch(
    datasets: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    a = as_lerobot_record_dataset(Path(shutil.copytree(datasets[0], tmp_path / "sim_a")))
    b = as_lerobot_record_dataset(Path(shutil.copytree(datasets[1], tmp_path / "sim_b")))
    out = tmp_path / "merged"
    argv = ["dataset", "merge", "--roots", f"[{a}, {b}]", "--output.root", str(out), "--output.repo_id", "test/m"]
    assert so101_main(argv) == 0
    assert "4 episodes" in capsys.readouterr().out and not (out / "meta" / "so101").exists()
    argv = ["dataset", "merge", "--roots", f"[{datasets[0]}, {a}]", "--output.root", str(tmp_path / "mixed")]
    assert so101_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "robot_type differs" in err and "'so101_sim'" in err and len(err.splitlines()) == 1


def test_merge_names_a_camera_of_another_size_in_one_short_line(
    datasets: tuple[Path, Path], copy_a: Path, tmp_path: Path, capsys
) -> None:
    info_path = copy_a / "meta" / "info.json"
    info = json.loads(info_path.read_text())
    info["features"]["observation.images.wrist_cam"]["shape"] = [96, 128, 3]
    info_path.write_text(json.dumps(info, indent=4))
    argv = ["dataset", "merge", "--roots", f"[{datasets[1]}, {copy_a}]", "--output.root", str(tmp_path / "out")]
    assert so101_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and len(err) < 400, err
    assert "observation.images.wrist_cam" in err and "(48, 64, 3)" in err and "(96, 128, 3)" in err


def test_merge_warns_about_scenes_that_appear_twice(datasets: tuple[Path, Path], copy_a: Path, tmp_path: Path, capsys):
    out = tmp_path / "twice"
    argv = ["dataset", "merge", "--roots", f"[{datasets[0]}, {copy_a}]", "--output.root", str(out)]
    assert so101_main(argv) == 0
    out = capsys.readouterr().out
    assert f"warning: 2 episode(s) of {copy_a} use scene seeds already in the datasets before it" in out


def test_image_statistics_as_lerobot_0_4_4_wrote_them_are_noted_with_the_fix(
    datasets: tuple[Path, Path], copy_a: Path, capsys
) -> None:
    from so101.recording.dataset_tools import image_stats_notes

    assert image_stats_notes(datasets[0]) == []  # the workbench's own statistics are right
    stats_path = copy_a / "meta" / "stats.json"
    stats = json.loads(stats_path.read_text())
    for key in [k for k in stats if k.startswith("observation.images.")]:
        stats[key]["std"] = (np.asarray(stats[key]["std"]) / 1000).tolist()  # what LeRobot 0.4.4 writes
    stats_path.write_text(json.dumps(stats))
    assert so101_main(["dataset", "validate", "--dataset.root", str(copy_a), "--resimulate", "false"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "note: image std in meta/stats.json is implausibly small" in out
    assert f"so101 dataset repair --dataset.root {copy_a}" in out
