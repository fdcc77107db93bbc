"""``so101 record``: record episodes from any action source into a LeRobot v3.0 dataset.

    so101 record --teleop scripted --episodes 50 --dataset.repo_id me/so101_pick --dataset.root data/pick
    so101 record --teleop keyboard --episodes 10 --dataset.root data/pick --resume true
    so101 record --teleop leader --leader.port /dev/ttyACM0 --leader.id my_leader --episodes 20 --dataset.root data/pick
    so101 record --teleop vr --episodes 20 --dataset.root data/pick        (add --view vr to a leader: the headset)
    so101 record --teleop scripted --episodes 1000 --backend ray --ray.address auto --workers 32 --dataset.root data/big

Episodes that fail (time-out) are discarded unless ``--keep_failed true``. Ctrl-C, a crash or the stop key end the
session with every saved episode in a valid dataset; ``--resume true`` appends to it later, with new scenes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from so101.command import run_command
from so101.errors import ConfigError
from so101.ray_cluster import RayOptions
from so101.recording.crash_points import crash_point
from so101.recording.dataset_writer import DatasetConfig, DatasetWriter
from so101.recording.disk_space import check_free_space, episode_bytes, free_bytes, is_disk_full, mb
from so101.recording.episode_loop import EpisodeLoopConfig, EpisodeResult, ExtraFeatures, Outcome, run_episode
from so101.recording.progress import Progress
from so101.sim.options import CameraOptions, SceneOptions
from so101.teleop.action_source import ActionSource, SourceDisconnected
from so101.teleop.keyboard import KeyboardConfig
from so101.teleop.leader import LeaderConfig
from so101.teleop.scripted_expert import ExpertConfig
from so101.teleop.sources import SOURCES
from so101.teleop.vr.headset import VRConfig

if TYPE_CHECKING:
    from so101.sim.scene import CameraConfig
    from so101.sim.simulator import So101Sim


@dataclass
class RecordConfig:
    """Options of ``so101 record``."""

    teleop: str = "scripted"
    """Action source: ``scripted`` (the IK expert, no hardware), ``keyboard`` (jog keys in the viewer window),
    ``leader`` (a physical leader arm: ``--leader.port`` and ``--leader.id``) or ``vr`` (an OpenXR headset's
    controller: ``--vr.*``)."""
    view: Literal["default", "vr"] = "default"
    """Where the person sees the scene: ``default`` (the source's own: keyboard's window, none for the others) or
    ``vr`` (an OpenXR headset, e.g. ``--teleop leader --view vr``; its buttons start, save and re-record)."""
    episodes: int = 10
    """Episodes to save in this session."""
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    resume: bool = False
    """Append to the dataset at ``--dataset.root`` instead of creating it."""
    keep_failed: bool = False
    """Also save episodes that timed out without success (their outcome says so in the scene file)."""
    seed: int = 0
    """Seed of the first scene; each new scene takes the next seed not yet in the dataset."""
    episode_time_s: float = 30.0
    """Longest episode (s of sim time); an episode without success ends here as a time-out."""
    settle_s: float = 0.5
    """Recording goes on this long (s) after the task signals report success."""
    scene: SceneOptions = field(default_factory=SceneOptions)
    cameras: CameraOptions = field(default_factory=CameraOptions)
    environment_state: bool = False
    """Also record the brick's and the bowl's poses as ``observation.environment_state`` (privileged information no
    real arm has, for studies that separate control from vision: ``so101.sim.environment_state``)."""
    max_consecutive_failures: int = 10
    """Give up after this many discarded episodes in a row (a systematic problem, not bad luck)."""
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    keyboard: KeyboardConfig = field(default_factory=KeyboardConfig)
    leader: LeaderConfig = field(default_factory=LeaderConfig)
    """The leader arm of ``--teleop leader`` (``--leader.port``, ``--leader.id``, ...)."""
    vr: VRConfig = field(default_factory=VRConfig)
    """The headset and controllers of ``--teleop vr`` and ``--view vr`` (``--vr.graphics``, ``--vr.hand``, ...)."""
    backend: Literal["local", "ray"] = "local"
    """Where episodes are recorded: ``local`` (this process) or ``ray`` (``--teleop scripted`` only: Ray workers
    record shard datasets, merged into --dataset.root at the end; the same scenes as a local recording)."""
    workers: int = 2
    """Ray workers recording at once with --backend ray (each its own simulator and shard dataset)."""
    ray: RayOptions = field(default_factory=RayOptions)
    """The Ray cluster of --backend ray (``--ray.address``, ``--ray.cpus_per_worker``)."""

    def __post_init__(self) -> None:
        if self.teleop not in SOURCES:
            raise ValueError(f"unknown --teleop {self.teleop!r}; choose one of {', '.join(SOURCES)}")
        if self.episodes < 1:
            raise ConfigError("episodes", self.episodes, "must be at least 1")
        if self.max_consecutive_failures < 1:
            raise ConfigError("max_consecutive_failures", self.max_consecutive_failures, "must be at least 1")
        EpisodeLoopConfig(self.episode_time_s, self.settle_s)  # validates both, naming the flags
        if self.backend == "ray":
            if self.teleop != "scripted":
                raise ConfigError("teleop", self.teleop, "must be scripted with --backend ray: a person drives one "
                                  "arm at a time (use --backend local)")
            if self.view != "default":
                raise ConfigError("view", self.view, "must stay default with --backend ray (use --backend local)")
            if self.resume:
                raise ConfigError("resume", True, "cannot be used with --backend ray: record into a new "
                                  "--dataset.root, then so101 dataset merge", "true")
            if self.workers < 1:
                raise ConfigError("workers", self.workers, "must be at least 1")


@dataclass
class RecordSummary:
    root: Path
    saved: int
    """Episodes saved in this session."""
    attempts: int
    """Episodes run to an end (saved or discarded), re-records excluded."""
    successes: int
    total_episodes: int
    """Episodes in the dataset at the end (0 when no dataset was written)."""
    frames: int
    """Frames saved in this session."""
    wall_s: float
    stopped: str = ""
    """Why the session ended early, if it did."""
    error: BaseException | None = None
    """The error that ended the session (a device that went away, a crash); saved episodes stay valid."""
    source_lost: bool = False
    """The device went away mid-episode (``stopped`` says what happened and how to resume)."""
    dataset_exists: bool = True
    """False when the session ended before a dataset was written (nothing was left on disk)."""
    disk_full: bool = False
    """The disk filled up (``stopped`` says how much was needed, where); saved episodes stay valid."""


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so that ``kill`` finalizes the dataset like Ctrl-C does."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _seeds(start: int, used: set[int]) -> Iterator[int]:
    seed = start
    while True:
        if seed not in used:
            yield seed
        seed += 1


def prepare_session(
    cfg: RecordConfig, source: ActionSource | None = None
) -> tuple[So101Sim, ActionSource, list[CameraConfig], dict[str, Any], dict[str, dict[str, Any]] | None]:
    """The simulator, the action source (opened, for VR), the cameras, the session's scene metadata and the extra
    features of a recording with ``cfg``: what every process recording episodes builds once."""
    import av
    import datasets

    from so101.recording.scene_metadata import session_metadata
    from so101.sim.environment_state import environment_state_feature
    from so101.sim.simulator import So101Sim
    from so101.teleop.sources import make_source

    # Quiet the per-episode chatter of the encoders (x264's statistics, SVT-AV1's banner) and of progress bars.
    os.environ.setdefault("SVT_LOG", "1")
    av.logging.set_libav_level(av.logging.ERROR)
    datasets.disable_progress_bars()

    sim = So101Sim(cfg.scene.scene_config())
    cameras = cfg.cameras.configs()
    source = source if source is not None else make_source(cfg.teleop, cfg)
    headset = None
    if cfg.view == "vr" or source.name == "vr":
        from so101.teleop.vr.source import VRTeleop

        source = headset = source if isinstance(source, VRTeleop) else VRTeleop(cfg.vr, driver=source)
        headset.plan_session(cfg.episodes, cfg.episode_time_s)
        headset.open(sim)  # no runtime or no headset is one line naming the fix, before anything is written
    session = session_metadata(
        sim.scene,
        source=source.name,
        source_config=getattr(source, "config", None),
        randomization=sim.randomization,
        signals=sim.monitor.config,
        cameras=[{"name": c.name, "width": c.width, "height": c.height} for c in cameras],
        render_profile=cfg.cameras.render_profile,
        task=cfg.dataset.task,
    )
    session["repo_id"] = cfg.dataset.repo_id
    extra_features = environment_state_feature() if cfg.environment_state else None
    if extra_features:
        session["extra_features"] = {key: {**f, "shape": list(f["shape"])} for key, f in extra_features.items()}
    return sim, source, cameras, session, extra_features


def episode_extras(cfg: RecordConfig) -> ExtraFeatures | None:
    """The extra features' values observed each frame (the environment state when ``cfg`` records it)."""
    from so101.sim.environment_state import ENVIRONMENT_STATE_KEY, environment_state

    return (lambda s: {ENVIRONMENT_STATE_KEY: environment_state(s)}) if cfg.environment_state else None


def keep_or_discard(writer: DatasetWriter, result: EpisodeResult, keep_failed: bool) -> int | None:
    """Save a finished episode (a success, one the user kept, or any with ``keep_failed``) or drop it; returns its
    episode index when saved."""
    if result.outcome in (Outcome.SUCCESS, Outcome.SAVED) or keep_failed:
        return writer.save_episode(result.placement, result.outcome.value, result.phases)
    writer.discard_episode()
    return None


def record(cfg: RecordConfig, progress: Progress | None = None, source: ActionSource | None = None) -> RecordSummary:
    """Record ``cfg.episodes`` episodes; the dataset stays valid whatever ends the session.

    Args:
        cfg: the options; ``cfg.teleop`` names the source unless ``source`` is given.
        progress: where progress goes; default: a ``Progress`` on stdout.
        source: an action source to record from instead of the one ``cfg.teleop`` names.
    """
    from so101.sim.rendering import CameraRenderer

    sim, source, cameras, session, extra_features = prepare_session(cfg, source)
    headset = source if cfg.view == "vr" or source.name == "vr" else None  # prepare_session opened it
    progress = progress or Progress(cfg.episodes)
    loop = EpisodeLoopConfig(cfg.episode_time_s, cfg.settle_s)
    per_episode = episode_bytes(sim.fps, cfg.episode_time_s, [(c.width, c.height) for c in cameras])
    warning = check_free_space(cfg.dataset.resolved_root(), per_episode, cfg.episodes)
    if warning:
        print(warning, file=progress.stream)
    start = time.perf_counter()
    saved = attempts = successes = frames = failures = 0
    stopped = ""
    error: BaseException | None = None
    source_lost = disk_full = False
    renderer = None
    writer = None
    try:
        with _terminate_as_interrupt():
            renderer = CameraRenderer(sim.model, cameras, cfg.cameras.render_profile)
            opener = DatasetWriter.resume if cfg.resume else DatasetWriter.create
            writer = opener(cfg.dataset, sim.fps, cameras, session, extra_features)
            extras = episode_extras(cfg)
            seeds = _seeds(cfg.seed, writer.used_seeds())
            placement = sim.sample_placement(next(seeds))
            while saved < cfg.episodes:
                sim.reset(placement)
                if not source.wait_for_start(sim):
                    stopped = "stopped by the user"
                    break
                # A headset session shows its own status line (episode, state, elapsed time) on the terminal.
                step = progress.step if headset is None else None
                result = run_episode(sim, source, placement, loop, writer, renderer, step, extras)
                if result.outcome is Outcome.RERECORD:
                    writer.discard_episode()
                    progress.episode(result, None)
                    continue
                if result.outcome is Outcome.STOPPED:
                    writer.discard_episode()
                    stopped = "stopped by the user"
                    break
                attempts += 1
                successes += result.outcome is Outcome.SUCCESS
                index = keep_or_discard(writer, result, cfg.keep_failed)
                if index is not None:
                    saved += 1
                    frames += result.frames
                    failures = 0
                else:
                    failures += 1
                progress.episode(result, index)
                if headset is not None:
                    headset.episode_ended(index is not None)
                if index is not None:
                    crash_point("saved")
                if failures >= cfg.max_consecutive_failures:
                    stopped = f"gave up after {failures} failed episodes in a row"
                    break
                placement = sim.sample_placement(next(seeds))
    except KeyboardInterrupt:
        stopped = "interrupted"
    except SourceDisconnected as lost:
        # finalize() below drops the unfinished episode; everything saved before stays a valid dataset.
        source_lost = True
        stopped = (
            f"{lost} The episode in progress was discarded. To record the remaining episodes, run the same "
            "command again with --resume true."
        )
    except Exception as exc:
        # Before the dataset exists, an error is a bad setup: the caller reports it. Afterwards the session
        # ends like an interruption: the episode in progress is dropped, the saved ones are finalized.
        if is_disk_full(exc):
            disk_full = True
            where = cfg.dataset.resolved_root()
            stopped = (
                f"the disk holding {where} is full ({mb(free_bytes(where))} "
                f"free, an episode needs about {mb(per_episode)}); the episode in progress was dropped, every saved "
                "episode is kept. Free some space, then run the same command with --resume true"
            )
        elif writer is None:
            raise
        else:
            stopped, error = f"stopped by an error: {exc!r}", exc
    finally:
        if writer is not None:
            writer.finalize()
        if renderer is not None:
            renderer.close()
        source.close()
    root = writer.root if writer is not None else cfg.dataset.resolved_root()
    exists = (root / "meta" / "info.json").is_file()
    total = writer.num_episodes if writer is not None and exists else 0
    wall = time.perf_counter() - start
    return RecordSummary(
        root, saved, attempts, successes, total, frames, wall, stopped, error, source_lost, exists, disk_full
    )


def _report(summary: RecordSummary) -> int:
    """Print the session's last line(s); returns the exit status."""
    rate = f"{summary.successes}/{summary.attempts}" if summary.attempts else "0/0"
    if summary.dataset_exists:
        where = f"the dataset at {summary.root} has {summary.total_episodes} episode(s)"
    else:
        where = f"nothing was written (no episode was saved, {summary.root} was not created)"
    print(
        f"record: saved {summary.saved} episode(s) ({summary.frames} frames) in {summary.wall_s:.1f} s; "
        f"success {rate}; {where}" + (f"; {summary.stopped}" if summary.stopped else "")
    )
    if summary.error is not None:
        traceback.print_exception(summary.error)
        print(
            "record: the episode in progress was discarded; the saved episodes form a valid dataset. "
            "Fix the error, then run the same command with --resume true to continue."
        )
    if summary.source_lost or summary.disk_full or summary.error is not None:
        return 1
    return 130 if summary.stopped == "interrupted" else 0


def _record_command(cfg: RecordConfig) -> int:
    if cfg.dataset.root is None:
        print(f"record: no --dataset.root given: writing to LeRobot's cache, {cfg.dataset.resolved_root()}")
    if cfg.backend == "ray":
        from so101.recording.ray_record import record_on_ray

        return _report(record_on_ray(cfg))
    return _report(record(cfg))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 record``; returns the exit status."""
    return run_command("record", RecordConfig, _record_command, argv)
