"""The episode loop: what ends an episode, what each frame holds, and the float32 actions that replay exactly."""

from __future__ import annotations

import time

import numpy as np
import pytest

from so101.recording.episode_loop import EpisodeLoopConfig, Outcome, run_episode
from so101.sim.simulator import START_POSE, So101Sim
from so101.teleop.action_source import ActionSource, EpisodeCommand


class Wiggle(ActionSource):
    """Moves the pan back and forth by a non-float32-representable amount; sends ``command`` at frame ``at``."""

    name = "wiggle"

    def __init__(self, command: EpisodeCommand = EpisodeCommand.CONTINUE, at: int = 0) -> None:
        self.command, self.at, self.frames = command, at, 0

    def start_episode(self, sim: So101Sim) -> None:
        self.frames = 0

    def next_action(self, sim: So101Sim) -> np.ndarray:
        self.frames += 1
        return START_POSE + np.array([0.1 * np.sin(self.frames / 5.0) + 1e-9, 0, 0, 0, 0, 0])

    def poll_command(self) -> EpisodeCommand:
        return self.command if self.frames == self.at else EpisodeCommand.CONTINUE


class Sink:
    def __init__(self) -> None:
        self.states: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.images: list[dict] = []

    def add_frame(
        self, state: np.ndarray, action: np.ndarray, images: dict[str, np.ndarray], extra: dict | None = None
    ) -> None:
        self.states.append(state)
        self.actions.append(action)
        self.images.append(images)


class Camera:
    def render(self, data) -> dict[str, np.ndarray]:
        return {"cam": np.full((4, 4, 3), int(data.time * 1000) % 255, dtype=np.uint8)}


@pytest.fixture(scope="module")
def sim() -> So101Sim:
    return So101Sim()


def test_times_out_and_records_state_before_each_action(sim: So101Sim) -> None:
    sink = Sink()
    placement = sim.sample_placement(0)
    result = run_episode(sim, Wiggle(), placement, EpisodeLoopConfig(episode_time_s=0.5), sink, Camera())
    assert result.outcome is Outcome.TIMEOUT and result.frames == 15 == len(sink.actions)
    np.testing.assert_allclose(sink.states[0], START_POSE, atol=1e-9)  # frame 0: the reset pose
    assert all(action.dtype == np.float32 for action in sink.actions)
    # The sim was driven by exactly the float32 actions the dataset stores.
    np.testing.assert_allclose(sim.commanded_targets(), sink.actions[-1].astype(np.float64), atol=1e-9)
    assert result.placement is placement and not any(result.phases.values())


@pytest.mark.parametrize(
    ("command", "outcome"),
    [
        (EpisodeCommand.SAVE, Outcome.SAVED),
        (EpisodeCommand.RERECORD, Outcome.RERECORD),
        (EpisodeCommand.STOP, Outcome.STOPPED),
    ],
)
def test_user_commands_end_the_episode(sim: So101Sim, command: EpisodeCommand, outcome: Outcome) -> None:
    sink = Sink()
    result = run_episode(sim, Wiggle(command, at=7), sim.sample_placement(1), EpisodeLoopConfig(), sink)
    assert result.outcome is outcome
    assert result.frames == 7 == len(sink.actions)


def test_ends_a_settle_time_after_success(sim: So101Sim) -> None:
    from so101.teleop.scripted_expert import ScriptedExpert

    config = EpisodeLoopConfig(settle_s=0.5)
    first_success = []

    def watch(s: So101Sim, frames: int, signals) -> None:
        if signals.success and not first_success:
            first_success.append(frames)

    result = run_episode(sim, ScriptedExpert(), sim.sample_placement(0), config, observer=watch)
    assert result.outcome is Outcome.SUCCESS
    assert result.frames == first_success[0] + 15
    assert all(result.phases.values())


def test_rejects_a_non_positive_time_out() -> None:
    with pytest.raises(ValueError, match="episode_time_s"):
        EpisodeLoopConfig(episode_time_s=0.0)


class Pausing(Wiggle):
    """A person-driven source whose ``next_action`` holds 0.3 s at its third frame, as a headset losing focus does."""

    realtime = True

    def next_action(self, sim: So101Sim) -> np.ndarray:
        if self.frames == 2:
            time.sleep(0.3)
            self.pauses += 1
        return super().next_action(sim)


def test_a_pause_of_the_source_is_not_counted_as_late_ticks(sim: So101Sim) -> None:
    source = Pausing()
    result = run_episode(sim, source, sim.sample_placement(0), EpisodeLoopConfig(episode_time_s=0.3, settle_s=0.0))
    assert source.pauses == 1 and result.frames == 9
    # Without the clock's restart after the pause, the tick after it is late by 0.3 s.
    assert result.late_ticks == 0
