"""``so101 record`` end to end: scripted episodes into a LeRobot v3.0 dataset that LeRobot itself reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from so101.kinematics.units import JOINT_FEATURE_NAMES
from so101.recording.dataset_writer import DatasetConfig
from so101.recording.record import RecordConfig, main, record
from so101.recording.replay import load_episodes, make_sim, replay_episode
from so101.recording.scene_metadata import SceneMetadata
from so101.sim.options import CameraOptions
from so101.sim.task_signals import TASK
from so101.teleop.action_source import ActionSource
from so101.teleop.scripted_expert import ScriptedExpert


def config(root: Path, episodes: int = 2, **overrides) -> RecordConfig:
    return RecordConfig(
        episodes=episodes,
        dataset=DatasetConfig(repo_id="test/so101_record", root=root, vcodec="h264"),
        cameras=CameraOptions(width=128, height=96),
        **overrides,
    )


def open_dataset(root: Path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    return LeRobotDataset("test/so101_record", root=root)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("record") / "dataset"
    summary = record(config(root))
    assert summary.saved == 2 and summary.error is None
    return root


def test_lerobot_reads_the_dataset_with_the_recorded_features(recorded: Path) -> None:
    dataset = open_dataset(recorded)
    meta = dataset.meta
    assert meta.total_episodes == 2 and meta.fps == 30 and meta.robot_type == "so101_follower"
    assert meta.features["observation.state"]["names"] == list(JOINT_FEATURE_NAMES)
    assert meta.features["action"]["names"] == list(JOINT_FEATURE_NAMES)
    assert meta.video_keys == ["observation.images.overhead_cam", "observation.images.wrist_cam"]
    item = dataset[len(dataset) - 1]
    assert item["task"] == TASK
    assert item["observation.images.overhead_cam"].shape == (3, 96, 128)
    # The two cameras are different views, not one image twice.
    assert not np.allclose(item["observation.images.overhead_cam"], item["observation.images.wrist_cam"])


def test_state_is_the_simulated_joints_and_actions_replay_to_success(recorded: Path) -> None:
    dataset = open_dataset(recorded)
    states = dataset.hf_dataset.with_format("numpy")["observation.state"]
    for episode in load_episodes(recorded):
        start = int(dataset.meta.episodes[episode.record.episode_index]["dataset_from_index"])
        np.testing.assert_array_equal(states[start : start + len(episode.states)], episode.states)
        sim = make_sim(episode.session)
        seen: list[np.ndarray] = []
        result = replay_episode(sim, episode, on_frame=lambda s, seen=seen: seen.append(s.joint_positions()))
        np.testing.assert_allclose(np.array(seen), episode.states, atol=1e-3)  # float32 rounding only
        assert result.success and episode.record.outcome == "success"


def test_scene_and_session_metadata_are_stored_in_the_dataset(recorded: Path) -> None:
    metadata = SceneMetadata(recorded)
    (session,) = metadata.sessions()
    assert session["source"] == "scripted" and session["fps"] == 30 and session["task"] == TASK
    assert session["scene"]["brick"] == "2x4" and session["render_profile"] == "fast"
    assert all(len(digest) == 64 for digest in session["model_files"].values())
    assert any(path.endswith("so101.xml") for path in session["model_files"])
    assert session["source_config"]["hover_height"] == ScriptedExpert().config.hover_height
    records = metadata.episodes()
    assert [r.episode_index for r in records] == [0, 1]
    assert [r.placement.seed for r in records] == [0, 1]
    assert json.loads((recorded / "meta" / "info.json").read_text())["total_episodes"] == 2


class Interrupting(ScriptedExpert):
    """The scripted expert, interrupted (Ctrl-C) or crashing ``after`` frames into episode ``episode``."""

    def __init__(self, episode: int, after: int, error: BaseException) -> None:
        super().__init__()
        self.episode, self.after, self.error, self.started, self.frames = episode, after, error, 0, 0

    def start_episode(self, sim) -> None:
        super().start_episode(sim)
        self.started += 1
        self.frames = 0

    def next_action(self, sim) -> np.ndarray:
        self.frames += 1
        if self.started == self.episode and self.frames == self.after:
            raise self.error
        return super().next_action(sim)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("simulated crash")])
def test_an_interrupted_session_keeps_every_finished_episode(tmp_path: Path, error) -> None:
    source = Interrupting(episode=2, after=40, error=error)
    root = tmp_path / "dataset"
    summary = record(config(root, episodes=3), source=source)
    assert summary.saved == 1 and summary.total_episodes == 1
    assert (summary.stopped == "interrupted") == isinstance(error, KeyboardInterrupt)
    assert (summary.error is error) == isinstance(error, RuntimeError)
    dataset = open_dataset(root)
    assert dataset.meta.total_episodes == 1
    assert len(dataset) == SceneMetadata(root).episodes()[0].frames
    dataset[len(dataset) - 1]  # the last frame decodes from both videos
    leftovers = [p for p in root.iterdir() if p.name not in ("data", "meta", "videos")]
    assert leftovers == [], "the partial episode's temporary files were left behind"

    # --resume appends new scenes to the finished episodes; without --dataset.repo_id it keeps the dataset's name.
    resumed = config(root, episodes=1, resume=True)
    resumed.dataset = DatasetConfig(root=root, vcodec="h264")
    summary = record(resumed)
    assert summary.total_episodes == 2
    assert [s["repo_id"] for s in SceneMetadata(root).sessions()] == ["test/so101_record"] * 2
    assert [r.placement.seed for r in SceneMetadata(root).episodes()] == [0, 1]
    assert [r.session for r in SceneMetadata(root).episodes()] == [0, 1]
    assert open_dataset(root).meta.total_episodes == 2


class Idle(ActionSource):
    """Holds the arm still: every episode times out."""

    name = "idle"

    def next_action(self, sim) -> np.ndarray:
        return sim.commanded_targets()


def test_failed_episodes_are_discarded_unless_kept(tmp_path: Path) -> None:
    failing = config(tmp_path / "dropped", episodes=1, episode_time_s=0.2, max_consecutive_failures=2)
    summary = record(failing, source=Idle())
    assert summary.saved == 0 and summary.attempts == 2 and "gave up" in summary.stopped
    assert not (tmp_path / "dropped").exists(), "an empty new dataset is removed"

    summary = record(config(tmp_path / "kept", episodes=2, episode_time_s=0.2, keep_failed=True), source=Idle())
    assert SceneMetadata(tmp_path / "kept").sessions()[0]["source"] == "idle"
    assert summary.saved == 2
    assert [r.outcome for r in SceneMetadata(tmp_path / "kept").episodes()] == ["timeout", "timeout"]


def test_refuses_to_overwrite_or_to_resume_a_mismatched_dataset(recorded: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "copy"
    shutil.copytree(recorded, root)
    argv = ["--dataset.root", str(root), "--episodes", "1", "--cameras.width", "128", "--cameras.height", "96"]
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*argv[:-4], "--cameras.width", "64", "--cameras.height", "48", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "observation.images.overhead_cam: shape" in err and "(96, 128, 3)" in err
    assert main(["--teleop", "joystick"]) == 2
    assert "scripted" in capsys.readouterr().err
