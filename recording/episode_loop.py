"""The episode loop shared by every action source: observe, ask the source, record the frame, step.

Frame t holds the joints and images observed at sim time t/fps and the action the source commanded then, exactly as
``lerobot-record`` pairs a real follower's observation with the teleoperator's action. The action is rounded to
float32 before it drives the simulation, so the action stored in the dataset replays the episode bit for bit.

An episode ends ``settle_s`` after the task signals first report success, when ``episode_time_s`` runs out, or
when the source's user saves, re-records or stops. Sources driven by a person run in real time on a
``ControlClock``, which draws the source's view (its window, a headset) between control ticks.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from so101.errors import ConfigError
from so101.sim.control_loop import ControlClock
from so101.sim.randomization import ScenePlacement
from so101.sim.simulator import So101Sim
from so101.sim.task_signals import TaskSignals
from so101.teleop.action_source import ActionSource, EpisodeCommand


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
    """Recording goes on this long (s) after the first success signal: the data shows the brick at rest."""

    def __post_init__(self) -> None:
        if self.episode_time_s <= 0:
            raise ConfigError("episode_time_s", self.episode_time_s, "must be positive")
        if self.settle_s < 0:
            raise ConfigError("settle_s", self.settle_s, "must not be negative")


@dataclass
class EpisodeResult:
    outcome: Outcome
    frames: int
    placement: ScenePlacement
    signals: TaskSignals
    late_ticks: int = 0
    """Control ticks reached after their time (real-time sources only): the loop could not keep its rate."""

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

    def add_frame(
        self,
        state: np.ndarray,
        action: np.ndarray,
        images: dict[str, np.ndarray],
        extra: dict[str, np.ndarray] | None = None,
    ) -> None: ...


class ImageSource(Protocol):
    def render(self, data: object) -> dict[str, np.ndarray]: ...


StepObserver = Callable[[So101Sim, int, TaskSignals], None]
"""Called after every control step with the sim, the number of frames recorded and the task signals."""
ExtraFeatures = Callable[[So101Sim], dict[str, np.ndarray]]
"""Values of a dataset's extra features observed in the sim, by feature name (e.g. the environment state)."""


def run_episode(
    sim: So101Sim,
    source: ActionSource,
    placement: ScenePlacement,
    config: EpisodeLoopConfig,
    sink: FrameSink | None = None,
    cameras: ImageSource | None = None,
    observer: StepObserver | None = None,
    extras: ExtraFeatures | None = None,
) -> EpisodeResult:
    """Run one episode from ``placement``; frames go to ``sink`` (with ``cameras``' images and the ``extras``
    observed with the state) when given.

    Sources with ``realtime`` set are paced to wall-clock time by a ``ControlClock`` that draws ``source.view``
    between ticks; the others run as fast as the machine allows.
    """
    sim.reset(placement)
    source.start_episode(sim)
    clock = ControlClock(sim.fps, view=source.view, realtime=source.realtime)
    max_frames = max(1, round(config.episode_time_s * sim.fps))
    settle_frames = round(config.settle_s * sim.fps)
    success_at: int | None = None
    signals = sim.signals
    frames = 0

    def end(outcome: Outcome) -> EpisodeResult:
        return EpisodeResult(outcome, frames, placement, signals, clock.stats.late_ticks)

    while True:
        command = source.poll_command()
        if command is EpisodeCommand.RERECORD:
            return end(Outcome.RERECORD)
        if command is EpisodeCommand.STOP:
            return end(Outcome.STOPPED)
        if command is EpisodeCommand.SAVE and frames > 0:
            return end(Outcome.SAVED)
        if success_at is not None and frames >= success_at + settle_frames:
            return end(Outcome.SUCCESS)
        if frames >= max_frames:
            return end(Outcome.SUCCESS if success_at is not None else Outcome.TIMEOUT)

        state = sim.joint_positions()
        pauses = source.pauses
        action = np.asarray(source.next_action(sim), dtype=np.float32)
        if source.pauses != pauses:
            clock.restart()
        if sink is not None:
            images = cameras.render(sim.data) if cameras is not None else {}
            sink.add_frame(state, action, images, extras(sim) if extras is not None else None)
        signals = sim.step(action.astype(np.float64))
        frames += 1
        if signals.success and success_at is None:
            success_at = frames
        if observer is not None:
            observer(sim, frames, signals)
        clock.wait()
