"""What the workbench stores inside a LeRobot dataset, next to LeRobot's own files, to re-simulate any episode.

Two files under ``<root>/meta/so101/`` (LeRobot ignores them; they travel with the dataset, also to the Hub):

* ``recording.json``: ``{"format": 1, "sessions": [...]}``, one entry per recording session (a ``record`` run;
  ``--resume`` and ``dataset merge`` add more): model files and their SHA-256, scene, randomization and
  task-signal configs, action source and its config, fps, cameras, render profile, task string, workbench and
  LeRobot versions, start time, the dataset's ``repo_id``.
* ``episodes.jsonl``: one JSON object per saved episode, in episode order: ``episode_index``, ``session`` (index
  into ``sessions``), ``placement`` (seed, brick pose, bowl position: ``so101.sim.randomization.ScenePlacement``),
  ``outcome`` (``success``, ``timeout`` or ``saved`` by the user), ``frames`` and the phases reached. Episodes that
  did not happen in the simulator (``SCENELESS_SOURCES``: deployed on the real arm, imported from HDF5) have a line
  too, with ``placement`` null and their own outcome (``deployed``, ``stopped: <reason>``, ``imported``).

Lengths in metres, angles in radians, like ``ScenePlacement``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from so101.recording.atomic_file import write_atomic
from so101.sim.paths import ASSETS_DIR
from so101.sim.randomization import ScenePlacement
from so101.sim.scene import SceneModel

FORMAT_VERSION = 1
META_DIR = Path("meta") / "so101"
RECORDING_FILE = META_DIR / "recording.json"
EPISODES_FILE = META_DIR / "episodes.jsonl"
SCENELESS_SOURCES = ("import-hdf5", "deploy")
"""Session sources whose episodes have no simulator scene (``so101 dataset import-hdf5``, ``so101 deploy``)."""


@dataclass
class EpisodeRecord:
    """The line of ``episodes.jsonl`` that describes one saved episode."""

    episode_index: int
    session: int
    placement: ScenePlacement | None
    """The scene the episode started from; None for an episode that did not happen in the simulator."""
    outcome: str
    """``success`` (the task signals said so), ``timeout`` (kept with ``--keep_failed``) or ``saved`` (by the user);
    ``deployed``, ``stopped: <reason>`` (``so101 deploy``) or ``imported`` (``import-hdf5``) without a scene."""
    frames: int
    phases: dict[str, bool]
    """Phases reached: ``grasped``, ``lifted``, ``released_over_bowl``, ``success``."""

    def to_json(self) -> str:
        payload = dataclasses.asdict(self)
        payload["placement"] = json.loads(self.placement.to_json()) if self.placement is not None else None
        return json.dumps(payload, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EpisodeRecord:
        payload = json.loads(text)
        try:
            return cls(
                episode_index=int(payload["episode_index"]),
                session=int(payload["session"]),
                placement=ScenePlacement.from_dict(payload["placement"]) if payload["placement"] is not None else None,
                outcome=str(payload["outcome"]),
                frames=int(payload["frames"]),
                phases={str(k): bool(v) for k, v in payload.get("phases", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not an episode record of {EPISODES_FILE} ({error}): {text[:200]}") from error


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def model_files(scene: SceneModel) -> dict[str, str]:
    """SHA-256 of every file the compiled scene was built from, keyed by path (``assets/<file>`` for the workbench's
    own models, the same in a clone and in an installed wheel; the absolute path otherwise).

    Together they pin the physics: replaying on a different model is flagged by ``dataset validate`` and ``replay``.
    """
    paths = [Path(scene.robot_xml), *sorted(ASSETS_DIR.glob("*.xml"))]
    hashes: dict[str, str] = {}
    for path in dict.fromkeys(p.resolve() for p in paths):
        try:
            key = str(path.relative_to(ASSETS_DIR.resolve().parent))
        except ValueError:
            key = str(path)
        hashes[key] = file_sha256(path)
    return hashes


def workbench_version() -> str:
    """Version of the installed workbench distribution, or ``"unknown"`` when run from a bare checkout."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    for dist in packages_distributions().get("so101", []):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "unknown"


def session_metadata(
    scene: SceneModel,
    *,
    source: str,
    source_config: Any,
    randomization: Any,
    signals: Any,
    cameras: list[dict[str, Any]],
    render_profile: str,
    task: str,
) -> dict[str, Any]:
    """The ``recording.json`` entry of a session. Config objects are dataclasses (stored as dicts) or ``None``."""
    import lerobot
    import mujoco

    config = scene.config
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "workbench_version": workbench_version(),
        "lerobot_version": getattr(lerobot, "__version__", "unknown"),
        "mujoco_version": mujoco.__version__,
        "model_files": model_files(scene),
        "scene": {
            "robot_xml": str(scene.robot_xml),
            "brick": config.brick,
            "fps": config.fps,
            "physics_dt": config.physics_dt,
            "timestep": config.timestep,
            "substeps": config.substeps,
        },
        "randomization": _as_dict(randomization),
        "task_signals": _as_dict(signals),
        "source": source,
        "source_config": _as_dict(source_config),
        "fps": config.fps,
        "cameras": cameras,
        "render_profile": render_profile,
        "task": task,
    }


def recorded_repo_id(sessions: list[dict[str, Any]]) -> str | None:
    """The repo_id the sessions were recorded under, when they name exactly one and the dataset is theirs (not a
    merge, nor a dataset a LeRobot tool made whose scenes were restored)."""
    names = {session["repo_id"] for session in sessions if session.get("repo_id")}
    derived = any("merged_from" in s or "scenes_restored_from" in s for s in sessions)
    return names.pop() if len(names) == 1 and not derived else None


def _as_dict(config: Any) -> Any:
    if config is None:
        return None
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return json.loads(json.dumps(dataclasses.asdict(config), default=str))
    return config


class SceneMetadata:
    """Reads and appends the workbench's files of one dataset root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def recording_path(self) -> Path:
        return self.root / RECORDING_FILE

    @property
    def episodes_path(self) -> Path:
        return self.root / EPISODES_FILE

    def exists(self) -> bool:
        return self.recording_path.is_file()

    def sessions(self) -> list[dict[str, Any]]:
        if not self.recording_path.is_file():
            return []
        payload = json.loads(self.recording_path.read_text())
        if not isinstance(payload, dict) or not isinstance(payload.get("sessions"), list):
            raise TypeError("not an object with a list of 'sessions'")
        if payload.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"{self.recording_path} has format {payload.get('format')!r}; this workbench reads format "
                f"{FORMAT_VERSION}. Update the workbench"
            )
        return list(payload["sessions"])

    def add_session(self, session: dict[str, Any]) -> int:
        """Append a session; returns its index."""
        sessions = [*self.sessions(), session]
        self._write_json(self.recording_path, {"format": FORMAT_VERSION, "sessions": sessions})
        return len(sessions) - 1

    def episodes(self) -> list[EpisodeRecord]:
        if not self.episodes_path.is_file():
            return []
        lines = self.episodes_path.read_text().splitlines()
        return [EpisodeRecord.from_json(line) for line in lines if line.strip()]

    def episode(self, episode_index: int) -> EpisodeRecord:
        for record in self.episodes():
            if record.episode_index == episode_index:
                return record
        raise KeyError(
            f"{self.episodes_path} has no scene for episode {episode_index}; it was not recorded by the workbench "
            "or the file was lost"
        )

    def append_episode_line(self, line: str) -> None:
        """Append one serialized ``EpisodeRecord`` (``EpisodeRecord.to_json()``)."""
        self.episodes_path.parent.mkdir(parents=True, exist_ok=True)
        with self.episodes_path.open("a") as stream:
            stream.write(line + "\n")
            stream.flush()

    def write_all(self, sessions: list[dict[str, Any]], episodes: list[EpisodeRecord]) -> None:
        """Replace both files (``dataset merge``, ``restore-scenes``); the scenes first: ``recording.json`` marks a
        workbench dataset, so a kill between the two leaves none that lacks its scenes."""
        write_atomic(self.episodes_path, "".join(record.to_json() + "\n" for record in episodes))
        self._write_json(self.recording_path, {"format": FORMAT_VERSION, "sessions": sessions})

    @staticmethod
    def _write_json(path: Path, payload: dict[str, Any]) -> None:
        write_atomic(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
