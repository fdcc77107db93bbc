"""The episode loop shared by every action source: observe, ask the source, record the frame, step.

Frame t holds the joints and images observed at sim time t/fps and the action the source commanded then, exactly as
``lerobot-record`` pairs a real follower's observation with the teleoperator's action. The action is rounded to
float32 before it drives the simulation, so the action stored in the dataset replays the episode bit for bit.

An episode ends ``settle_s`` after the task signals first report success, when ``episode_time_s`` runs out, or
when the source's user saves, re-records or stops.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sim.randomization import ScenePlacement
from sim.simulator import So101Sim
from sim.task_signals import TaskSignals
from teleop.action_source import ActionSource, EpisodeCommand


class Outcome(enum.Enum):
    SUCCESS = "success"
    TIMEOUT = "timeout"
    SAVED = "saved"
    """The user ended the episode and kept it."""
    RERECORD = "rerecord"
    STOPPED = "stopped"


@dataclass
class EpisodeLoopConfig:
    episode_time_s: float = 30.0
    """Longest episode (s of sim time); an episode without success ends here as a time-out."""
    settle_s: float = 0.5
    """Frames recorded after the first success signal (s), so that the data shows the brick at rest and the arm still."""
    realtime: bool = False
    """Pace the loop to wall-clock time (for a person at the controls)."""

    def __post_init__(self) -> None:
        if self.episode_time_s <= 0 or self.settle_s < 0:
            raise ValueError("episode_time_s must be positive and settle_s not negative")


@dataclass
class EpisodeResult:
    outcome: Outcome
    frames: int
    placement: ScenePlacement
    signals: TaskSignals

    @property
    def phases(self) -> dict[str, bool]:
        signals = self.signals
        return {
            "grasped": bool(signals.ever_grasped),
            "lifted": bool(signals.ever_lifted),
            "released_over_bowl": bool(signals.ever_released_over_bowl),
            "success": bool(self.outcome is Outcome.SUCCESS or signals.success),
        }


class FrameSink(Protocol):
    """Where frames go: a ``DatasetWriter``, or nothing for benchmarks and dry runs."""

    def add_frame(self, state: np.ndarray, action: np.ndarray, images: dict[str, np.ndarray]) -> None: ...


class ImageSource(Protocol):
    def render(self, data: object) -> dict[str, np.ndarray]: ...


StepObserver = Callable[[So101Sim, int, TaskSignals], None]
"""Called after every control step with the sim, the number of frames recorded and the task signals."""


def run_episode(
    sim: So101Sim,
    source: ActionSource,
    placement: ScenePlacement,
    config: EpisodeLoopConfig,
    sink: FrameSink | None = None,
    cameras: ImageSource | None = None,
    observer: StepObserver | None = None,
) -> EpisodeResult:
    """Run one episode from ``placement``; frames go to ``sink`` (with ``cameras``' images) when given."""
    sim.reset(placement)
    source.start_episode(sim)
    max_frames = max(1, round(config.episode_time_s * sim.fps))
    settle_frames = round(config.settle_s * sim.fps)
    success_at: int | None = None
    signals = sim.signals
    start = time.perf_counter()
    frames = 0
    while True:
        command = source.poll_command()
        if command is EpisodeCommand.RERECORD:
            return EpisodeResult(Outcome.RERECORD, frames, placement, signals)
        if command is EpisodeCommand.STOP:
            return EpisodeResult(Outcome.STOPPED, frames, placement, signals)
        if command is EpisodeCommand.SAVE and frames > 0:
            return EpisodeResult(Outcome.SAVED, frames, placement, signals)
        if success_at is not None and frames >= success_at + settle_frames:
            return EpisodeResult(Outcome.SUCCESS, frames, placement, signals)
        if frames >= max_frames:
            outcome = Outcome.SUCCESS if success_at is not None else Outcome.TIMEOUT
            return EpisodeResult(outcome, frames, placement, signals)

        state = sim.joint_positions()
        action = np.asarray(source.next_action(sim), dtype=np.float32)
        if sink is not None:
            images = cameras.render(sim.data) if cameras is not None else {}
            sink.add_frame(state, action, images)
        signals = sim.step(action.astype(np.float64))
        frames += 1
        if signals.success and success_at is None:
            success_at = frames
        if observer is not None:
            observer(sim, frames, signals)
        if config.realtime:
            delay = start + frames * sim.control_dt - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
