"""``so101 replay``: re-simulate recorded episodes from their scenes and actions.

    so101 replay --dataset.root data/pick --episode 3                  # headless: does it succeed again?
    so101 replay --dataset.root data/pick --episode 3 --video ep3.mp4  # and film it
    so101 replay --dataset.root data/pick --episode 3 --render         # watch it in the viewer
    so101 replay --dataset.root data/pick --all                        # every episode; the replay success rate

The scene comes from ``meta/so101/episodes.jsonl`` and the actions from the dataset. Actions were rounded to float32
before they drove the recording, so on the same model a replay is exact: the replayed joints equal the recorded
``observation.state`` and an episode that succeeded succeeds again.

A dataset in end-effector space (``so101 convert-ee``) replays through the IK: each EE action goes through
``so101.kinematics.ee_action.EEActionAdapter`` (the end-effector controller, with its step bound) to joint targets; the
joints are compared with the kept ``joints.observation.state`` (or ``observation.state`` when it stayed in joints),
and the frames the IK could not reach are counted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from so101.command import run_command
from so101.errors import ConfigError, DatasetError
from so101.kinematics.ee_features import EELayout
from so101.recording.dataset_writer import DatasetRef
from so101.recording.scene_metadata import SCENELESS_SOURCES, EpisodeRecord, SceneMetadata, model_files
from so101.sim.options import CameraOptions

if TYPE_CHECKING:
    from so101.sim.control_loop import ControlClock
    from so101.sim.simulator import So101Sim


@dataclass
class ReplayConfig:
    """Options of ``so101 replay``."""

    dataset: DatasetRef = field(default_factory=DatasetRef)
    episode: int = 0
    """Index of the episode to replay."""
    all: bool = False
    """Replay every episode headless and report the success rate of those recorded as successes."""
    render: bool = False
    """Show the replay in the viewer window, in real time."""
    video: Path | None = None
    """Write the replay to this MP4 file, seen by ``--cameras.names`` side by side."""
    cameras: CameraOptions = field(default_factory=CameraOptions)

    def __post_init__(self) -> None:
        if self.episode < 0:
            raise ConfigError("episode", self.episode, "must be an episode index (0 or more)")


@dataclass
class ReplayResult:
    episode_index: int
    recorded_outcome: str
    success: bool
    """The replay reached the task's success signal."""
    frames: int
    max_state_error: float
    """Largest difference between replayed joints and recorded ``observation.state`` (dataset units)."""
    ik_failures: int = 0
    """End-effector datasets: frames whose action the IK could not reach (the arm held its targets)."""


@dataclass
class EpisodeData:
    """One recorded episode: its scene and its per-frame arrays in dataset units."""

    record: EpisodeRecord
    actions: np.ndarray
    """(T, 6) commanded joint targets, or (T, ``layout.dim``) end-effector actions."""
    states: np.ndarray
    """(T, 6) recorded joints (``observation.state``, or its kept joints in an end-effector dataset)."""
    session: dict
    layout: EELayout | None = None
    """The end-effector layout of ``actions``; None for joint targets."""


def load_episodes(root: Path, episodes: list[int] | None = None, joint_actions: bool = False) -> list[EpisodeData]:
    """Actions, states and scenes of ``episodes`` (all that have a scene when None), read from the dataset's parquet
    files; ``joint_actions`` takes an end-effector dataset's kept joint targets (``joints.action``) as the actions."""
    import pandas as pd

    metadata = SceneMetadata(root)
    if not metadata.exists():
        raise FileNotFoundError(
            f"{root} has no workbench scene files ({metadata.recording_path}); only datasets recorded with "
            "`so101 record` can be re-simulated. Rewritten by lerobot-edit-dataset (which drops meta/so101)? "
            f"so101 dataset restore-scenes --dataset.root {root} brings the scenes back from the original"
        )
    files = sorted((root / "data").glob("chunk-*/file-*.parquet"))
    if not files:
        raise FileNotFoundError(f"{root} has no data files under data/; is it a finalized LeRobot v3.0 dataset?")
    layout, state_key = ee_layout(root)
    action_key = "action"
    if joint_actions and layout is not None:
        layout, action_key = None, "joints.action"
    columns = ["episode_index", "frame_index", action_key, state_key]
    frame = pd.concat([pd.read_parquet(path, columns=columns) for path in files], ignore_index=True)
    lengths = {int(index): int(count) for index, count in frame.groupby("episode_index").size().items()}
    records = {record.episode_index: record for record in metadata.episodes()}
    sessions = metadata.sessions()
    if sessions and all(session.get("source") in SCENELESS_SOURCES for session in sessions):
        raise DatasetError(_sceneless_message(root, sorted(lengths), sessions))
    _check_scenes_match(metadata, records, lengths)
    # All: those with a scene (a merge may hold deployed or imported episodes beside recorded ones).
    wanted = sorted(i for i in records if records[i].placement is not None) if episodes is None else episodes
    missing = [index for index in wanted if index not in records]
    if missing:
        raise DatasetError(f"{root} has no episode(s) {missing}; choose --episode from 0..{len(records) - 1}")
    sceneless = [index for index in wanted if records[index].placement is None]
    if sceneless:
        raise DatasetError(_sceneless_message(root, sceneless, [sessions[records[i].session] for i in sceneless]))
    out = []
    for index in wanted:
        rows = frame[frame["episode_index"] == index].sort_values("frame_index")
        record = records[index]
        out.append(
            EpisodeData(
                record,
                np.stack(rows[action_key].to_numpy()).astype(np.float64),
                np.stack(rows[state_key].to_numpy()).astype(np.float64),
                sessions[record.session],
                layout,
            )
        )
    return out


def ee_layout(root: Path) -> tuple[EELayout | None, str]:
    """The end-effector layout of the dataset's actions (None: joint targets) and the column of its joints."""
    import json

    features = json.loads((root / "meta" / "info.json").read_text())["features"]
    conversion = root / "meta" / "so101" / "convert_ee.json"
    tcp = json.loads(conversion.read_text())["layout"]["tcp"] if conversion.is_file() else EELayout.tcp
    layout = EELayout.from_names(features.get("action", {}).get("names") or [], tcp)
    kept_joints = "joints.observation.state"
    return layout, kept_joints if kept_joints in features else "observation.state"
def _sceneless_message(root: Path, episodes: list[int], sessions: list[dict]) -> str:
    """Why ``episodes`` cannot be replayed: they have no scene, because of where they came from."""
    sources = sorted({str(session.get("source")) for session in sessions})
    how = {"deploy": "deployed on the real arm (so101 deploy)", "import-hdf5": "imported from HDF5 (import-hdf5)"}
    return (
        f"{root}: episodes {episodes} have no simulator scene to replay: they were "
        f"{' or '.join(how.get(source, source) for source in sources)}. so101 replay re-simulates only episodes "
        "recorded in the simulator (so101 record); look at these with lerobot-dataset-viz"
    )


def _check_scenes_match(metadata: SceneMetadata, records: dict[int, EpisodeRecord], lengths: dict[int, int]) -> None:
    """The scene file describes exactly the dataset's episodes, frame for frame; else replaying would put an
    episode's actions in another episode's scene."""
    name = metadata.episodes_path.relative_to(metadata.root)
    if set(records) != set(lengths):
        only_scenes, only_data = sorted(set(records) - set(lengths)), sorted(set(lengths) - set(records))
        detail = "; ".join(
            part
            for part in (
                f"scenes for episodes {only_scenes} the dataset lacks" if only_scenes else "",
                f"no scene for episodes {only_data}" if only_data else "",
            )
            if part
        )
        bad = f"lists scenes for {len(records)} episode(s), the dataset holds {len(lengths)} ({detail})"
    else:
        wrong = [i for i in sorted(records) if records[i].frames != lengths[i]]
        if not wrong:
            return
        i = wrong[0]
        bad = f"does not match the episodes: episode {i} has {records[i].frames} frames there, {lengths[i]} in the data"
    raise DatasetError(
        f"{metadata.root}: {name} {bad}; episodes were removed or added without it (lerobot-edit-dataset?). "
        "Remove episodes with so101 dataset delete-episodes, which keeps the scenes in step"
    )


def make_sim(session: dict) -> So101Sim:
    """A simulator built like the one that recorded ``session``."""
    from so101.sim.scene import SceneConfig
    from so101.sim.simulator import So101Sim

    scene = session["scene"]
    robot_xml = Path(scene["robot_xml"])
    config = SceneConfig(
        robot_xml=robot_xml if robot_xml.is_file() else None,
        brick=scene["brick"],
        fps=int(scene["fps"]),
        physics_dt=float(scene["physics_dt"]),
    )
    return So101Sim(config)


def replay_episode(
    sim: So101Sim,
    episode: EpisodeData,
    on_frame: Callable[[So101Sim], None] | None = None,
    clock: ControlClock | None = None,
) -> ReplayResult:
    """Reset to the episode's scene and apply its actions; compare the joints with the recorded state.

    ``on_frame`` sees the sim before each step; ``clock`` (when given) paces the steps and draws its view.
    """
    sim.reset(episode.record.placement)
    adapter = None
    if episode.layout is not None:
        from so101.kinematics.ee_action import EEActionAdapter

        adapter = EEActionAdapter(sim.model, episode.layout)
        adapter.reset(sim.commanded_targets())
    error = 0.0
    success = False
    for t, action in enumerate(episode.actions):
        error = max(error, float(np.max(np.abs(sim.joint_positions() - episode.states[t]))))
        if on_frame is not None:
            on_frame(sim)
        targets = action if adapter is None else adapter.to_joint_targets(action).targets
        success = sim.step(targets).success or success
        if clock is not None:
            clock.wait()
    failures = 0 if adapter is None else adapter.failures
    return ReplayResult(
        episode.record.episode_index, episode.record.outcome, success, len(episode.actions), error, failures
    )


def model_changes(session: dict, sim: So101Sim) -> list[str]:
    """Model files that differ from the recording's or are missing here: a replay on them may diverge."""
    recorded = session.get("model_files", {})
    current = model_files(sim.scene)
    return sorted(path for path, digest in recorded.items() if current.get(path) != digest)


def _replay_all(cfg: ReplayConfig) -> int:
    episodes = load_episodes(cfg.dataset.existing_root())
    sims: dict[int, So101Sim] = {}
    results = []
    for episode in episodes:
        sim = sims.get(episode.record.session) or sims.setdefault(episode.record.session, make_sim(episode.session))
        results.append(replay_episode(sim, episode))
    recorded_ok = [r for r in results if r.recorded_outcome == "success"]
    again = sum(r.success for r in recorded_ok)
    worst = max((r.max_state_error for r in results), default=0.0)
    for r in results:
        if r.recorded_outcome == "success" and not r.success:
            print(f"episode {r.episode_index}: recorded as a success, the replay failed")
    rate = 100.0 * again / len(recorded_ok) if recorded_ok else float("nan")
    failures = sum(r.ik_failures for r in results)
    through_ik = f"; through the IK: {failures} of {sum(r.frames for r in results)} frames unreached" if (
        episodes and episodes[0].layout is not None
    ) else ""
    print(
        f"replay: {again}/{len(recorded_ok)} successful episodes succeed again ({rate:.1f}%); "
        f"{len(results)} episodes replayed; largest state difference {worst:.2e} (dataset units){through_ik}"
    )
    return 0 if again == len(recorded_ok) else 1


def _replay_one(cfg: ReplayConfig) -> int:
    from so101.sim.control_loop import ControlClock

    (episode,) = load_episodes(cfg.dataset.existing_root(), [cfg.episode])
    sim = make_sim(episode.session)
    changed = model_changes(episode.session, sim)
    if changed:
        print(f"replay: warning: model files changed since recording: {', '.join(changed)}", file=sys.stderr)
    video = _VideoWriter(cfg, sim) if cfg.video is not None else None
    viewer = None
    if cfg.render:
        from so101.sim.viewer import Viewer

        viewer = Viewer(sim, title="so101 replay")

    def on_frame(s: So101Sim) -> None:
        if video is not None:
            video.write(s)
        if viewer is not None:
            viewer.status_lines = [f"replay  t {s.steps * s.control_dt:5.2f} s   success {s.signals.success}"]

    try:
        clock = ControlClock(sim.fps, view=viewer) if viewer is not None else None
        result = replay_episode(sim, episode, on_frame, clock)
    finally:
        # Offscreen renderers go before the window: its GL context is the last one current.
        if video is not None:
            video.close()
        if viewer is not None:
            viewer.shutdown()
    verdict = "succeeds" if result.success else "fails"
    print(
        f"replay: episode {result.episode_index} ({result.frames} frames, recorded {result.recorded_outcome}) "
        f"{verdict} again; largest state difference {result.max_state_error:.2e} (dataset units)"
        + (f"; video: {cfg.video}" if cfg.video is not None else "")
    )
    return 0 if result.success or result.recorded_outcome != "success" else 1


class _VideoWriter:
    """The replay filmed by ``cfg.cameras``, with the task signals drawn."""

    def __init__(self, cfg: ReplayConfig, sim: So101Sim) -> None:
        from so101.sim.rendering import CameraRenderer
        from so101.sim.video import EpisodeVideo

        assert cfg.video is not None
        self._renderer = CameraRenderer(sim.model, cfg.cameras.configs(), cfg.cameras.render_profile)
        self._video = EpisodeVideo(cfg.video, sim.fps, height=None)

    def write(self, sim: So101Sim) -> None:
        self._video.add(self._renderer.render(sim.data), sim.signals.as_dict(), sim.steps)

    def close(self) -> None:
        self._video.close()
        self._renderer.close()


def _replay_command(cfg: ReplayConfig) -> int:
    return _replay_all(cfg) if cfg.all else _replay_one(cfg)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 replay``; returns 0 when the replay(s) succeed as recorded."""
    return run_command("replay", ReplayConfig, _replay_command, argv)
