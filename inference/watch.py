"""``so101 eval PATH --render``: watch a checkpoint's episodes in the workbench's window, at real time.

The episodes run in this process on a ``ControlClock`` at the checkpoint's control rate, with the window
(``so101.sim.viewer.Viewer``) as the clock's view: it draws between control ticks. The policy's cameras render offscreen
in the same thread; ``so101.sim.gl_context`` hands the thread's GL between the window and the cameras under any
``MUJOCO_GL``. Teardown: the offscreen renderers first, then the window.
"""

from __future__ import annotations

import logging
from pathlib import Path

from so101.inference.episode import RolloutSettings, run_policy_episode
from so101.inference.report import EvalEpisode

log = logging.getLogger(__name__)


def watch(
    checkpoint: Path | str, seeds: list[int], settings: RolloutSettings, width: int = 1280, height: int = 720
) -> list[EvalEpisode]:
    """Run one episode per scene seed, shown in a ``width`` x ``height`` window (pixels); stops early when the
    window is closed. Returns the episodes run."""
    from so101.inference.policy_runner import PolicyRunner
    from so101.inference.policy_spaces import PolicySpaces
    from so101.policies.checkpoint import load_policy
    from so101.sim.control_loop import ControlClock
    from so101.sim.rendering import CameraRenderer
    from so101.sim.scene import CameraConfig, SceneConfig
    from so101.sim.simulator import So101Sim
    from so101.sim.viewer import Viewer

    loaded = load_policy(checkpoint, settings.device, settings.n_action_steps, settings.temporal_ensemble)
    runner = PolicyRunner.from_loaded(loaded)
    requirements = loaded.requirements
    profile = settings.render_profile or requirements.render_profile
    sim = So101Sim(SceneConfig(fps=requirements.fps, brick=requirements.brick))
    cameras = [CameraConfig(name, w, h) for name, (h, w) in requirements.cameras.items()]
    renderer = CameraRenderer(sim.model, cameras, profile)
    spaces = PolicySpaces(sim.model, requirements)
    viewer = None
    results: list[EvalEpisode] = []
    try:
        viewer = Viewer(sim, title=f"so101 eval {checkpoint}", width=width, height=height, profile=profile)
        clock = ControlClock(sim.fps, view=viewer)
        for index, seed in enumerate(seeds):
            if viewer.should_close:
                break
            viewer.status_lines = [f"episode {index + 1}/{len(seeds)}, scene seed {seed}"]
            episode = run_policy_episode(
                sim, renderer, runner, seed, settings.max_steps(sim.fps), clock=clock,
                should_stop=lambda: viewer.should_close, spaces=spaces if spaces.end_effector else None,
            )  # fmt: skip
            results.append(episode)
            outcome = "success" if episode.success else "failure"
            log.info("seed %s: %s in %d steps (%s)", seed, outcome, episode.steps, runner.timing.line())
        log.info("pacing: %s", clock.summary())
    finally:
        renderer.close()
        if viewer is not None:
            viewer.shutdown()
    return results
