"""``so101 replay`` on an end-effector dataset: the actions go through the IK, and the episodes that succeed from
their joints succeed from their EE actions (recording/replay.py, kinematics/ee_action.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from so101.recording.replay import load_episodes, main, make_sim, replay_episode


@pytest.fixture(scope="module")
def successful(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """6 full scripted episodes (all succeed when recorded) and their conversion to end-effector space."""
    from so101.recording.convert_ee import main as convert
    from so101.recording.record import main as record

    root = tmp_path_factory.mktemp("replay_ee")
    joints, ee = root / "joints", root / "ee"
    assert record(["--episodes=6", "--dataset.repo_id=test/replay", f"--dataset.root={joints}",
                   "--cameras.width=32", "--cameras.height=24"]) == 0
    assert convert([f"--src.root={joints}", f"--dst.root={ee}", "--rotation=quat", "--verify=false"]) == 0
    return joints, ee


def test_episodes_that_succeed_from_joints_succeed_from_ee_actions(successful: tuple[Path, Path]) -> None:
    joints_root, ee_root = successful
    from_joints = load_episodes(joints_root)
    from_ee = load_episodes(ee_root)
    assert from_ee[0].layout is not None and from_ee[0].actions.shape[1] == 8
    sim = make_sim(from_joints[0].session)
    joint_results = [replay_episode(sim, episode) for episode in from_joints]
    ee_results = [replay_episode(sim, episode) for episode in from_ee]
    succeeded = [j.episode_index for j in joint_results if j.success]
    assert len(succeeded) == 6
    again = [e.episode_index for e in ee_results if e.success and e.episode_index in succeeded]
    assert len(again) >= 0.99 * len(succeeded)
    assert sum(e.ik_failures for e in ee_results) == 0
    # Through the IK the arm follows the recorded joints to within a degree.
    assert max(e.max_state_error for e in ee_results) < 1.0


def test_replay_all_reports_frames_the_ik_could_not_reach(successful: tuple[Path, Path], capsys) -> None:
    assert main([f"--dataset.root={successful[1]}", "--all"]) == 0
    out = capsys.readouterr().out
    assert "6/6 successful episodes succeed again" in out and "through the IK: 0 of" in out
