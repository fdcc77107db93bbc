"""Evaluation of checkpoints in worker processes: ``EvalPool``, used by ``so101 eval``, in-loop evaluation during
training and ``so101 bench eval`` alike.

Episodes run in worker processes (spawned; each owns a simulator, its camera renderer and its copy of the policy,
built once and reused across episodes). Cameras render at the size the dataset was recorded at, with the
checkpoint's render profile; the policy's own preprocessor resizes them to its training resolution.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from inference.episode import RolloutSettings, run_policy_episode
from inference.report import EvalEpisode, EvalSummary, summarize

if TYPE_CHECKING:
    from inference.policy_runner import PolicyRunner
    from policies.checkpoint import SimRequirements
    from sim.rendering import CameraRenderer
    from sim.simulator import So101Sim

_SIMS: dict[tuple, tuple[So101Sim, CameraRenderer]] = {}
_RUNNERS: dict[tuple, tuple[PolicyRunner, SimRequirements]] = {}
_release_registered = False


def release_simulators() -> None:
    """Close this process's camera renderers (their GL contexts) and drop its simulators."""
    for _sim, renderer in _SIMS.values():
        renderer.close()
    _SIMS.clear()


def _sim_for(requirements: SimRequirements, settings: RolloutSettings) -> tuple[So101Sim, CameraRenderer]:
    """This process's simulator and renderer for a camera setup (built once, reused across episodes)."""
    global _release_registered
    from sim.rendering import CameraRenderer
    from sim.scene import CameraConfig, SceneConfig
    from sim.simulator import So101Sim

    profile = settings.render_profile or requirements.render_profile
    cameras = tuple((name, h, w) for name, (h, w) in requirements.cameras.items())
    key = (cameras, profile, requirements.fps, requirements.brick)
    if key not in _SIMS:
        sim = So101Sim(SceneConfig(fps=requirements.fps, brick=requirements.brick))
        renderer = CameraRenderer(sim.model, [CameraConfig(name, w, h) for name, h, w in cameras], profile)
        _SIMS[key] = (sim, renderer)
        if not _release_registered:
            # Registered after the renderer's GL display (atexit runs last-registered first): the renderers are
            # freed while their display still exists, not by the garbage collector after it was terminated.
            atexit.register(release_simulators)
            _release_registered = True
    return _SIMS[key]


def _runner_for(checkpoint: str, settings: RolloutSettings) -> tuple[PolicyRunner, SimRequirements]:
    """This process's runner of a checkpoint's policy; reloaded when the weights file changes."""
    from inference.policy_runner import PolicyRunner
    from policies.checkpoint import load_policy

    weights = Path(checkpoint) / "model.safetensors"
    key = (checkpoint, weights.stat().st_mtime_ns, settings.n_action_steps, settings.temporal_ensemble, settings.device)
    if key not in _RUNNERS:
        _RUNNERS.clear()  # one policy at a time: evaluations go checkpoint by checkpoint
        loaded = load_policy(checkpoint, settings.device, settings.n_action_steps, settings.temporal_ensemble)
        _RUNNERS[key] = (PolicyRunner.from_loaded(loaded), loaded.requirements)
    return _RUNNERS[key]


def _episode_task(task: tuple[str, int, RolloutSettings, str | None]) -> EvalEpisode:
    from inference.policy_spaces import PolicySpaces

    checkpoint, seed, settings, video_path = task
    runner, requirements = _runner_for(checkpoint, settings)
    sim, renderer = _sim_for(requirements, settings)
    # End-effector policies: observations and actions through the FK and the IK (cheap to build per episode).
    spaces = PolicySpaces(sim.model, requirements)
    return run_policy_episode(
        sim, renderer, runner, seed, settings.max_steps(sim.fps), Path(video_path) if video_path else None,
        spaces=spaces if spaces.end_effector else None,
    )


def _init_worker(threads: int) -> None:
    import torch

    # Workers share the machine's cores: oversubscribed BLAS threads would slow every worker down.
    torch.set_num_threads(threads)


class EvalPool:
    """Worker processes that run evaluation episodes; ``workers=0`` runs them in this process."""

    def __init__(self, workers: int) -> None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.workers = workers
        self._pool = None
        if workers > 0:
            threads = max(1, (os.cpu_count() or 1) // workers)
            self._pool = multiprocessing.get_context("spawn").Pool(workers, _init_worker, (threads,))

    def evaluate(
        self,
        checkpoint: Path | str,
        seeds: list[int],
        settings: RolloutSettings,
        video_episodes: int = 0,
        video_dir: Path | None = None,
        step: int | None = None,
    ) -> tuple[EvalSummary, list[EvalEpisode]]:
        """Evaluate one checkpoint (its ``pretrained_model`` directory) on scene ``seeds``; mp4s of the first
        ``video_episodes`` episodes go to ``video_dir``. Results are in seed order."""
        from policies.checkpoint import load_config, resolve_pretrained_dir, sim_requirements

        pretrained = resolve_pretrained_dir(checkpoint)
        fps = sim_requirements(pretrained, load_config(pretrained)).fps
        tasks = [
            (
                str(pretrained),
                seed,
                settings,
                str(Path(video_dir) / f"episode_{seed}.mp4") if video_dir is not None and i < video_episodes else None,
            )
            for i, seed in enumerate(seeds)
        ]
        start = time.perf_counter()
        if self._pool is None:
            results = [_episode_task(task) for task in tasks]
        else:
            results = list(self._pool.imap(_episode_task, tasks))
        elapsed = time.perf_counter() - start
        return summarize(results, fps, elapsed, step=step, checkpoint=str(pretrained)), results

    def close(self) -> None:
        """Stop the workers; in-process evaluation frees its renderers."""
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None
        else:
            release_simulators()

    def __enter__(self) -> EvalPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
