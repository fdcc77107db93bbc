"""``so101 replay``: re-simulating recorded episodes, headless and to a video."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from so101.recording.dataset_writer import DatasetConfig
from so101.recording.record import RecordConfig, record
from so101.recording.replay import main
from so101.sim.options import CameraOptions


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("replay") / "dataset"
    cfg = RecordConfig(
        episodes=1,
        seed=7,
        dataset=DatasetConfig(repo_id="test/replay", root=root, vcodec="h264"),
        cameras=CameraOptions(width=64, height=48),
    )
    assert record(cfg).saved == 1
    return root


def test_replays_an_episode_to_success_and_to_a_video(root: Path, tmp_path: Path, capsys) -> None:
    video = tmp_path / "ep0.mp4"
    argv = [
        "--dataset.root",
        str(root),
        "--episode",
        "0",
        "--video",
        str(video),
        "--cameras.width",
        "160",
        "--cameras.height",
        "120",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "episode 0" in out and "succeeds again" in out
    with av.open(str(video)) as container:
        frames = sum(1 for _ in container.decode(video=0))
        # The two default cameras side by side, each at the size asked for.
        assert (container.streams.video[0].width, container.streams.video[0].height) == (320, 120)
    from so101.recording.scene_metadata import SceneMetadata

    assert frames == SceneMetadata(root).episode(0).frames


def test_replays_every_episode_and_reports_the_rate(root: Path, capsys) -> None:
    assert main(["--dataset.root", str(root), "--all"]) == 0
    assert "1/1 successful episodes succeed again (100.0%)" in capsys.readouterr().out


def test_names_a_missing_episode_or_dataset(root: Path, tmp_path: Path, capsys) -> None:
    assert main(["--dataset.root", str(root), "--episode", "5"]) == 2
    assert "no episode(s) [5]" in capsys.readouterr().err
    assert main(["--dataset.root", str(tmp_path / "none")]) == 2
    assert "so101 record" in capsys.readouterr().err


def test_a_scene_file_out_of_step_with_the_episodes_is_named_first(tiny_dataset: Path, tmp_path: Path, capsys) -> None:
    """LeRobot's own delete_episodes (lerobot-edit-dataset) with meta/so101 copied along unchanged."""
    import shutil

    from lerobot.datasets.dataset_tools import delete_episodes
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    edited = tmp_path / "edited"
    delete_episodes(LeRobotDataset("test/so101_scripted", root=tiny_dataset), [1], output_dir=edited)
    shutil.copytree(tiny_dataset / "meta" / "so101", edited / "meta" / "so101")
    # The scenes alone: copied along too, the content hashes would name the rewritten data file first.
    (edited / "meta" / "so101" / "content_hashes.jsonl").unlink()
    capsys.readouterr()  # LeRobot's progress bars
    for argv in (["--all", "true"], ["--episode", "1"], ["--episode", "5"]):
        assert main(["--dataset.root", str(edited), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert "meta/so101/episodes.jsonl lists scenes for 4 episode(s), the dataset holds 3" in err
        assert "so101 dataset delete-episodes" in err
