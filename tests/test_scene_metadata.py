"""The workbench's files inside a dataset: episode scenes and session metadata round-trip and refuse bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from so101.recording.scene_metadata import EpisodeRecord, SceneMetadata, model_files
from so101.sim.randomization import ScenePlacement
from so101.sim.scene import build_scene


def placement(seed: int) -> ScenePlacement:
    return ScenePlacement(seed=seed, brick_pos=(0.2, 0.1 + seed, 0.0096), brick_yaw=0.3, bowl_pos=(0.2, -0.12, 0.0))


def test_episodes_and_sessions_round_trip(tmp_path: Path) -> None:
    metadata = SceneMetadata(tmp_path)
    assert not metadata.exists() and metadata.sessions() == [] and metadata.episodes() == []
    assert metadata.add_session({"source": "scripted"}) == 0
    assert metadata.add_session({"source": "keyboard"}) == 1
    phases = {"grasped": True, "lifted": True, "released_over_bowl": True, "success": True}
    for index in range(2):
        metadata.append_episode_line(
            EpisodeRecord(index, index, placement(index), "success", 100 + index, phases).to_json()
        )
    records = metadata.episodes()
    assert [r.frames for r in records] == [100, 101] and [r.session for r in records] == [0, 1]
    assert metadata.episode(1).placement == placement(1)
    assert [s["source"] for s in metadata.sessions()] == ["scripted", "keyboard"]
    with pytest.raises(KeyError, match="no scene for episode 7"):
        metadata.episode(7)


def test_rejects_unknown_formats_and_broken_lines(tmp_path: Path) -> None:
    metadata = SceneMetadata(tmp_path)
    metadata.recording_path.parent.mkdir(parents=True)
    metadata.recording_path.write_text(json.dumps({"format": 99, "sessions": []}))
    with pytest.raises(ValueError, match="format 99"):
        metadata.sessions()
    with pytest.raises(ValueError, match="not an episode record"):
        EpisodeRecord.from_json(json.dumps({"episode_index": 0}))


def test_model_files_hash_the_arm_and_the_scene_assets() -> None:
    hashes = model_files(build_scene())
    assert {"assets/so101.xml", "assets/scene.xml", "assets/duplo_2x4.xml", "assets/bowl.xml"} <= set(hashes)
    assert len(set(hashes.values())) == len(hashes)
