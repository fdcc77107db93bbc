"""``so101 dataset repair``: broken datasets give back every provably complete episode, and stay untouched."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_REPO_ID

from so101.recording.repair import main
from so101.recording.scene_metadata import SceneMetadata


def folder_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def broken(tiny_dataset: Path, tmp_path: Path) -> Path:
    root = tmp_path / "broken"
    shutil.copytree(tiny_dataset, root)
    return root


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def repaired_episodes(root: Path) -> list[int]:
    """Open the repaired dataset with stock LeRobot; returns the frame count of each episode."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset(TINY_REPO_ID, root=root)
    lengths = []
    for episode in range(dataset.meta.total_episodes):
        row = dataset.meta.episodes[episode]
        item = dataset[row["dataset_to_index"] - 1]
        assert item["observation.images.wrist_cam"].shape == (3, 96, 128)
        lengths.append(row["dataset_to_index"] - row["dataset_from_index"])
    return lengths


def test_rebuilds_lost_episodes_metadata_and_drops_what_it_cannot_prove(broken: Path, tmp_path: Path, capsys) -> None:
    shutil.rmtree(broken / "meta" / "episodes")
    scenes = SceneMetadata(broken)
    (scenes.episodes_path).write_text(
        "".join(r.to_json() + "\n" for r in scenes.episodes() if r.episode_index != 1)
    )
    truncate(broken / "videos" / "observation.images.wrist_cam" / "chunk-000" / "file-002.mp4")
    # A dataset of an older workbench, without content hashes: the video's frames themselves are counted.
    (broken / "meta" / "so101" / "content_hashes.jsonl").unlink()
    before = folder_hash(broken)
    output = tmp_path / "fixed"

    assert main(["--dataset.root", str(broken), "--dataset.repo_id", TINY_REPO_ID, "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert "episode 1: dropped: it has no scene" in out
    assert "episode 2: dropped: the video of observation.images.wrist_cam holds" in out
    # Without meta/episodes, nothing says where episode 3 starts once a video before it is unreadable.
    assert "episode 3: dropped" in out and "kept 1 episode(s) (0)" in out
    assert folder_hash(broken) == before
    assert repaired_episodes(output) == [40]
    (record,) = SceneMetadata(output).episodes()
    assert record.episode_index == 0 and record.placement.seed == SceneMetadata(broken).episodes()[0].placement.seed


def test_keeps_the_episodes_around_a_truncated_data_file(broken: Path, tiny_dataset: Path, capsys) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    truncate(broken / "data" / "chunk-000" / "file-001.parquet")
    assert main(["--dataset.root", str(broken), "--dataset.repo_id", TINY_REPO_ID]) == 0
    out = capsys.readouterr().out
    assert "file lost: data/chunk-000/file-001.parquet: unreadable" in out
    assert "episode 1: dropped: its frames are lost" in out
    output = broken.with_name("broken.repaired")
    assert repaired_episodes(output) == [40, 40, 40]
    # Frames are carried over exactly: episode 3 of the original is episode 2 of the repaired dataset.
    original = LeRobotDataset(TINY_REPO_ID, root=tiny_dataset).hf_dataset.with_format("numpy")
    fixed = LeRobotDataset(TINY_REPO_ID, root=output).hf_dataset.with_format("numpy")
    np.testing.assert_array_equal(fixed["action"][80:120], original["action"][120:160])
    assert [r.episode_index for r in SceneMetadata(output).episodes()] == [0, 1, 2]


def test_drops_the_episode_of_a_file_that_changed_since_it_was_saved(broken: Path, tmp_path: Path, capsys) -> None:
    from so101.recording.content_hashes import HASHES_FILE, mismatches
    from so101.recording.dataset_tools import validate_main

    video = broken / "videos" / "observation.images.wrist_cam" / "chunk-000" / "file-001.mp4"
    data = bytearray(video.read_bytes())
    middle = len(data) // 3
    data[middle : middle + 300] = bytes(b ^ 0xFF for b in data[middle : middle + 300])  # still decodes: bit rot
    video.write_bytes(bytes(data))
    argv = ["--dataset.root", str(broken), "--dataset.repo_id", TINY_REPO_ID]
    assert validate_main(argv) == 2
    assert str(video.relative_to(broken)) in capsys.readouterr().err
    output = tmp_path / "fixed"
    assert main([*argv, "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert f"episode 1: dropped: {video.relative_to(broken)} is not the file that was saved" in out
    assert repaired_episodes(output) == [40, 40, 40]
    # The repaired dataset carries digests of its own files, and they match.
    assert (output / HASHES_FILE).is_file() and mismatches(output) == []
    assert validate_main(["--dataset.root", str(output), "--dataset.repo_id", TINY_REPO_ID]) == 0


def test_says_when_nothing_can_be_kept(broken: Path, capsys) -> None:
    for path in (broken / "data").glob("*/*.parquet"):
        truncate(path)
    assert main(["--dataset.root", str(broken), "--dataset.repo_id", TINY_REPO_ID]) == 1
    assert "nothing was written" in capsys.readouterr().out
    assert not broken.with_name("broken.repaired").exists()


def test_matches_episodes_to_one_appended_video_without_episodes_metadata(tmp_path: Path, capsys) -> None:
    """LeRobot's own writer appends every episode to one video file per camera; with meta/episodes lost (a kill
    before finalize), the episodes are found one after another in it."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from so101.recording.dataset_writer import dataset_features
    from so101.recording.scene_metadata import EpisodeRecord
    from so101.sim.randomization import ScenePlacement
    from so101.sim.scene import CameraConfig
    from so101.sim.task_signals import TASK

    root = tmp_path / "stock"
    cameras = [CameraConfig("overhead_cam", 64, 48)]
    dataset = LeRobotDataset.create(
        TINY_REPO_ID, 30, dataset_features(cameras), root=root, robot_type="so101_follower", vcodec="h264"
    )
    rng = np.random.default_rng(0)
    lengths = [12, 9, 15]
    for length in lengths:
        shade = rng.integers(0, 255)
        for _ in range(length):
            dataset.add_frame(
                {
                    "observation.state": rng.normal(size=6).astype(np.float32),
                    "action": rng.normal(size=6).astype(np.float32),
                    "observation.images.overhead_cam": np.full((48, 64, 3), shade, dtype=np.uint8),
                    "task": TASK,
                }
            )
        dataset.save_episode()
    dataset.finalize()
    assert len(list((root / "videos").rglob("*.mp4"))) == 1  # one appended file, as LeRobot writes it
    placement = ScenePlacement(3, (0.2, 0.0, 0.01), 0.0, (0.25, 0.1, 0.0))
    records = [EpisodeRecord(i, 0, placement, "saved", n, {}) for i, n in enumerate(lengths)]
    SceneMetadata(root).write_all([{"fps": 30, "task": TASK}], records)
    shutil.rmtree(root / "meta" / "episodes")
    assert main(["--dataset.root", str(root), "--dataset.repo_id", TINY_REPO_ID]) == 0
    assert "kept 3 episode(s) (0, 1, 2)" in capsys.readouterr().out
    fixed = LeRobotDataset(TINY_REPO_ID, root=root.with_name("stock.repaired"))
    shades = []
    for episode, length in enumerate(lengths):
        row = fixed.meta.episodes[episode]
        assert row["dataset_to_index"] - row["dataset_from_index"] == length
        first = fixed[row["dataset_from_index"]]["observation.images.overhead_cam"]
        last = fixed[row["dataset_to_index"] - 1]["observation.images.overhead_cam"]
        # Each episode's frames are its own: one uniform shade from its first to its last frame.
        assert abs(float(first.mean()) - float(last.mean())) < 0.02
        shades.append(float(first.mean()))
    assert len({round(shade, 2) for shade in shades}) == 3


def test_repairs_a_lerobot_record_dataset_without_scenes(broken: Path, capsys) -> None:
    shutil.rmtree(broken / "meta" / "so101")
    shutil.rmtree(broken / "meta" / "episodes")
    truncate(broken / "videos" / "observation.images.overhead_cam" / "chunk-000" / "file-003.mp4")
    assert main(["--dataset.root", str(broken), "--dataset.repo_id", TINY_REPO_ID]) == 0
    out = capsys.readouterr().out
    assert "note: no workbench metadata" in out and "kept 3 episode(s) (0, 1, 2)" in out
    assert "episode 3: dropped: the video of observation.images.overhead_cam holds" in out
    output = broken.with_name("broken.repaired")
    assert repaired_episodes(output) == [40, 40, 40] and not (output / "meta" / "so101").exists()


def test_a_repaired_dataset_has_correct_image_statistics(broken: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    """Statistics as LeRobot 0.4.4 wrote them (image std 1000x too small) are recomputed from the frames."""
    import json

    import numpy as np

    from so101.recording.dataset_tools import image_stats_notes

    stats_path = broken / "meta" / "stats.json"
    stats = json.loads(stats_path.read_text())
    keys = [key for key in stats if key.startswith("observation.images.")]
    for key in keys:
        stats[key]["std"] = (np.asarray(stats[key]["std"]) / 1000).tolist()
    stats_path.write_text(json.dumps(stats))
    assert image_stats_notes(broken)
    output = tmp_path / "fixed"
    assert main(["--dataset.root", str(broken), "--dataset.repo_id", TINY_REPO_ID, "--output", str(output)]) == 0
    assert image_stats_notes(output) == []
    repaired, recorded = (json.loads((root / "meta" / "stats.json").read_text()) for root in (output, tiny_dataset))
    for key in keys:
        # Recomputed from the decoded frames, which the video codec has moved a little from those recorded.
        np.testing.assert_allclose(np.asarray(repaired[key]["std"]), np.asarray(recorded[key]["std"]), rtol=0.15)
