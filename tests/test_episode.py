"""Tests of so101.inference.episode: one evaluation episode renders only when the policy observes, runs on a clock,
and stops on request."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from so101.inference.episode import RolloutSettings, run_policy_episode
from so101.inference.policy_runner import CallTiming
from so101.sim.control_loop import ControlClock
from so101.sim.rendering import CameraRenderer
from so101.sim.scene import CameraConfig
from so101.sim.simulator import START_POSE, So101Sim


class _HoldRunner:
    """Holds the rest pose; takes a new observation every ``every`` steps, like a chunking policy."""

    observes_environment_state = False

    def __init__(self, every: int) -> None:
        self.every = every
        self.timing = CallTiming()
        self.observed: list[set[str]] = []
        self._left = 0

    @property
    def needs_images(self) -> bool:
        return self._left == 0

    def reset(self) -> None:
        self._left = 0
        self.timing = CallTiming()

    def act(
        self, state: np.ndarray, images: dict[str, np.ndarray] | None = None, environment_state: object = None
    ) -> np.ndarray:
        if self._left == 0:
            assert images is not None
            self.observed.append(set(images))
            self.timing.durations_s.append(0.001)
            self._left = self.every
        self._left -= 1
        return START_POSE.copy()


class _CountingRenderer:
    def __init__(self, renderer: CameraRenderer) -> None:
        self.renderer = renderer
        self.calls = 0

    def render(self, data: object) -> dict[str, np.ndarray]:
        self.calls += 1
        return self.renderer.render(data)


class _View:
    frame_period_s = 0.0

    def __init__(self) -> None:
        self.frames = 0

    def draw(self) -> None:
        self.frames += 1


@pytest.fixture(scope="module")
def sim_and_renderer():
    sim = So101Sim()
    renderer = CameraRenderer(sim.model, [CameraConfig("overhead_cam", 64, 48), CameraConfig("wrist_cam", 64, 48)])
    yield sim, renderer
    renderer.close()


def test_cameras_render_only_when_the_policy_observes(sim_and_renderer) -> None:
    sim, renderer = sim_and_renderer
    counting, runner = _CountingRenderer(renderer), _HoldRunner(every=5)
    episode = run_policy_episode(sim, counting, runner, seed=3, max_steps=12)
    assert episode.steps == 12 and not episode.success and episode.seed == 3
    assert counting.calls == 3 == episode.policy_calls  # steps 0, 5 and 10
    assert runner.observed == [{"overhead_cam", "wrist_cam"}] * 3
    assert episode.policy_s == pytest.approx(0.003) and episode.policy_max_s == pytest.approx(0.001)


def test_a_video_renders_every_step(sim_and_renderer, tmp_path: Path) -> None:
    sim, renderer = sim_and_renderer
    counting = _CountingRenderer(renderer)
    episode = run_policy_episode(sim, counting, _HoldRunner(every=5), 0, max_steps=6, video_path=tmp_path / "e.mp4")
    assert counting.calls == 7  # every step, and the final state
    assert episode.video == str(tmp_path / "e.mp4") and (tmp_path / "e.mp4").stat().st_size > 0


def test_the_clock_ticks_every_step_and_a_stop_request_ends_the_episode(sim_and_renderer) -> None:
    sim, renderer = sim_and_renderer
    view = _View()
    clock = ControlClock(sim.fps, view=view, realtime=False)
    episode = run_policy_episode(sim, renderer, _HoldRunner(every=4), 0, max_steps=30, clock=clock,
                                 should_stop=lambda: clock.stats.ticks >= 7)  # fmt: skip
    assert episode.steps == 7
    assert clock.stats.ticks == 7 and view.frames == 7


def test_episode_length_follows_the_episode_time() -> None:
    assert RolloutSettings().max_steps(30) == 450
    assert RolloutSettings(episode_time_s=0.4).max_steps(30) == 12
