"""One evaluation episode of a policy in the simulator: from a scene seed to success or the time limit.

The policy runs through ``so101.inference.policy_runner.PolicyRunner``; cameras render only when it takes a new
observation (or every step when a video is written). Headless episodes run as fast as they compute; shown in a
window they run at real time on a ``ControlClock`` whose view is the window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from so101.inference.report import EvalEpisode
from so101.sim.options import EPISODE_TIME_S, episode_steps

if TYPE_CHECKING:
    import mujoco
    import numpy as np

    from so101.inference.policy_runner import PolicyRunner
    from so101.inference.policy_spaces import PolicySpaces
    from so101.sim.control_loop import ControlClock
    from so101.sim.randomization import ScenePlacement
    from so101.sim.simulator import So101Sim
    from so101.sim.task_signals import TaskSignals

FAILURE_MODES = ("not_grasped", "dropped", "released_outside_bowl", "time_out")
"""Why an episode failed, in the order of the task (see ``failure_mode``)."""


class CameraImages(Protocol):
    """Renders the robot cameras (``so101.sim.rendering.CameraRenderer`` or a wrapper of it)."""

    def render(self, data: mujoco.MjData) -> dict[str, np.ndarray]:
        """uint8 (height, width, 3) images by camera name, of the current state of ``data``."""


@dataclass
class RolloutSettings:
    """How each evaluation episode runs; sent to the worker processes."""

    episode_time_s: float = EPISODE_TIME_S
    """Sim seconds before an episode counts as failed (``so101.sim.options.EPISODE_TIME_S`` by default)."""
    n_action_steps: int | None = None
    """Actions executed per policy call; None keeps the checkpoint's."""
    temporal_ensemble: float | None = None
    """ACT temporal-ensembling coefficient (queries the policy every step); None: off."""
    device: str | None = None
    """Device of the policy in the workers; None picks cuda, mps or cpu."""
    render_profile: str | None = None
    """Render profile; None uses the checkpoint's (the one its dataset was recorded with, else ``fast``)."""

    def max_steps(self, fps: int) -> int:
        """Control steps of an episode at ``fps``."""
        return episode_steps(fps, self.episode_time_s)


def run_policy_episode(
    sim: So101Sim,
    renderer: CameraImages,
    runner: PolicyRunner,
    seed: int,
    max_steps: int,
    video_path: Path | None = None,
    clock: ControlClock | None = None,
    should_stop: Callable[[], bool] | None = None,
    spaces: PolicySpaces | None = None,
    placement: ScenePlacement | None = None,
) -> EvalEpisode:
    """Run one episode from scene ``seed`` (or from ``placement``, numbered ``seed``); it ends on success, after
    ``max_steps`` control steps, or when ``should_stop`` says so (a closed window).

    Args:
        renderer: renders the cameras the policy observes, at the size its data was recorded at.
        video_path: write an mp4 of every step with the task signals drawn.
        clock: paces the steps (and draws its view between them); None runs as fast as possible.
        spaces: the policy's state and action spaces (end-effector policies); None: joints in, joint targets out.
    """
    from so101.sim.environment_state import environment_state
    from so101.sim.video import EpisodeVideo

    video = EpisodeVideo(video_path, sim.fps) if video_path is not None else None
    start = time.perf_counter()
    sim.reset(placement if placement is not None else seed)
    runner.reset()
    if spaces is not None:
        spaces.reset(sim.commanded_targets())
    if clock is not None:
        clock.restart()
    step = 0
    try:
        while step < max_steps:
            images = renderer.render(sim.data) if video is not None or runner.needs_images else None
            if video is not None:
                video.add(images, sim.signals.as_dict(), step)
            # Only a step that calls the policy reads the objects' poses.
            observes = runner.observes_environment_state and runner.needs_images
            objects = environment_state(sim) if observes else None
            if spaces is None:
                signals = sim.step(runner.act(sim.joint_positions(), images, objects))
            else:
                action = runner.act(spaces.state(sim.joint_positions()), images, objects)
                signals = sim.step(spaces.joint_targets(action))
            step += 1
            if clock is not None:
                clock.wait()
            if signals.success or (should_stop is not None and should_stop()):
                break
        if video is not None:
            video.add(renderer.render(sim.data), sim.signals.as_dict(), step)
    finally:
        if video is not None:
            video.close()
    signals = sim.signals
    return EvalEpisode(
        seed=seed,
        success=bool(signals.success),
        grasped=bool(signals.ever_grasped),
        lifted=bool(signals.ever_lifted),
        released_over_bowl=bool(signals.ever_released_over_bowl),
        steps=step,
        wall_s=time.perf_counter() - start,
        policy_calls=runner.timing.count,
        policy_s=runner.timing.total_s,
        policy_max_s=runner.timing.max_s,
        video=str(video_path) if video_path is not None else None,
        ik_steps=0 if spaces is None else spaces.ik_steps,
        ik_failures=0 if spaces is None else spaces.ik_failures,
        failure=failure_mode(signals),
    )


def failure_mode(signals: TaskSignals) -> str:
    """Why an episode failed, from its last task signals; empty on success.

    * ``not_grasped``: the jaws never held the brick;
    * ``time_out``: time ran out with the brick still held, or in the bowl but not yet at rest there long enough;
    * ``released_outside_bowl``: let go over the bowl, but the brick did not stay in it;
    * ``dropped``: held, then lost before reaching the bowl.
    """
    if signals.success:
        return ""
    if not signals.ever_grasped:
        return "not_grasped"
    if signals.grasped or signals.in_bowl:
        return "time_out"
    if signals.ever_released_over_bowl:
        return "released_outside_bowl"
    return "dropped"
