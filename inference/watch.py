"""``so101 eval PATH --render``: watch a checkpoint's episodes in the workbench's window, at real time.

The episodes run in this process on a ``ControlClock`` at the checkpoint's control rate, with the window
(``sim.viewer.Viewer``) as the clock's view: it draws between control ticks. The policy's cameras still render
offscreen, in their own GL contexts, in the same thread as the window:

* under ``MUJOCO_GL=egl`` those contexts are EGL and the window's is GLX; glvnd refuses to make a context of one
  current in a thread where one of the other is (X error ``BadAccess``), so every camera render releases the
  window's context first and its own afterwards (``_CamerasBesideWindow``);
* GL is torn down in a safe order, each context freed while it can be made current: the offscreen renderers first
  (while the window and GLFW still exist), then the window and GLFW. Left to the garbage collector at exit, the
  renderers would be freed after their EGL display was terminated.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from inference.episode import RolloutSettings, run_policy_episode
from inference.report import EvalEpisode
from so101.command import UsageError

if TYPE_CHECKING:
    import mujoco
    import numpy as np

    from sim.rendering import CameraRenderer


def _release_offscreen_context() -> None:
    """Release this thread's current EGL context, if MuJoCo renders offscreen with EGL."""
    if os.environ.get("MUJOCO_GL") == "egl":
        from mujoco.egl import EGL

        EGL.eglReleaseThread()


def _release_window_context() -> None:
    import glfw

    glfw.make_context_current(None)


class _CamerasBesideWindow:
    """The offscreen camera renderer, used in the thread of an open GLFW window (see the module's docstring)."""

    def __init__(self, renderer: CameraRenderer) -> None:
        self.renderer = renderer

    def render(self, data: mujoco.MjData) -> dict[str, np.ndarray]:
        """uint8 (height, width, 3) images by camera name; no GL context is left current afterwards."""
        _release_window_context()
        try:
            return self.renderer.render(data)
        finally:
            _release_offscreen_context()


def watch(
    checkpoint: Path | str, seeds: list[int], settings: RolloutSettings, width: int = 1280, height: int = 720
) -> list[EvalEpisode]:
    """Run one episode per scene seed, shown in a ``width`` x ``height`` window (pixels); stops early when the
    window is closed. Returns the episodes run."""
    from inference.policy_runner import PolicyRunner
    from policies.checkpoint import load_policy
    from sim.control_loop import ControlClock
    from sim.rendering import CameraRenderer
    from sim.scene import CameraConfig, SceneConfig
    from sim.simulator import So101Sim
    from sim.viewer import Viewer

    loaded = load_policy(checkpoint, settings.device, settings.n_action_steps, settings.temporal_ensemble)
    runner = PolicyRunner.from_loaded(loaded)
    requirements = loaded.requirements
    profile = settings.render_profile or requirements.render_profile
    sim = So101Sim(SceneConfig(fps=requirements.fps, brick=requirements.brick))
    cameras = [CameraConfig(name, w, h) for name, (h, w) in requirements.cameras.items()]
    renderer = CameraRenderer(sim.model, cameras, profile)
    _release_offscreen_context()
    viewer = None
    results: list[EvalEpisode] = []
    try:
        try:
            viewer = Viewer(sim, title=f"so101 eval {checkpoint}", width=width, height=height, profile=profile)
        except RuntimeError as error:  # no display, or no OpenGL window: the fix is the user's
            raise UsageError(f"--render needs a window: {error}") from error
        clock = ControlClock(sim.fps, view=viewer)
        images = _CamerasBesideWindow(renderer)
        for index, seed in enumerate(seeds):
            if viewer.should_close:
                break
            viewer.status_lines = [f"episode {index + 1}/{len(seeds)}, scene seed {seed}"]
            episode = run_policy_episode(
                sim, images, runner, seed, settings.max_steps(sim.fps), clock=clock,
                should_stop=lambda: viewer.should_close,
            )  # fmt: skip
            results.append(episode)
            print(f"seed {seed}: {'success' if episode.success else 'failure'} in {episode.steps} steps "
                  f"({runner.timing.line()})", flush=True)  # fmt: skip
        print(f"pacing: {clock.summary()}")
    finally:
        if viewer is not None:
            _release_window_context()
        renderer.close()
        _release_offscreen_context()
        if viewer is not None:
            viewer.shutdown()
    return results
