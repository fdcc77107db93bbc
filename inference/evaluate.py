"""Evaluation of checkpoints in worker processes: ``EvalPool``, used by ``so101 eval``, in-loop evaluation during
training and ``so101 bench eval`` alike.

Episodes run in worker processes (spawned; each owns a simulator, its camera renderer and its copy of the policy,
built once and reused across episodes). Cameras render at the size the dataset was recorded at, with the
checkpoint's render profile; the policy's own preprocessor resizes them to its training resolution.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import time
import traceback
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING

from so101.command import USER_ERRORS
from so101.errors import EvalWorkerError
from so101.inference.episode import RolloutSettings, run_policy_episode
from so101.inference.report import EvalEpisode, EvalSummary, summarize

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from so101.inference.policy_runner import PolicyRunner
    from so101.policies.checkpoint import SimRequirements
    from so101.sim.randomization import ScenePlacement
    from so101.sim.rendering import CameraRenderer
    from so101.sim.simulator import So101Sim

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
    from so101.sim.rendering import CameraRenderer
    from so101.sim.scene import CameraConfig, SceneConfig
    from so101.sim.simulator import So101Sim

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
    from so101.inference.policy_runner import PolicyRunner
    from so101.policies.checkpoint import load_policy

    weights = Path(checkpoint) / "model.safetensors"
    key = (checkpoint, weights.stat().st_mtime_ns, settings.n_action_steps, settings.temporal_ensemble, settings.device)
    if key not in _RUNNERS:
        _RUNNERS.clear()  # one policy at a time: evaluations go checkpoint by checkpoint
        loaded = load_policy(checkpoint, settings.device, settings.n_action_steps, settings.temporal_ensemble)
        _RUNNERS[key] = (PolicyRunner.from_loaded(loaded), loaded.requirements)
    return _RUNNERS[key]


def episode_task(task: tuple[str, int, RolloutSettings, str | None, str | None]) -> EvalEpisode:
    """Run one evaluation episode, ``(checkpoint, seed, settings, video path, grid scene)``, in this process: the
    one episode function of every backend (the local pool's workers, Ray's actors, in-process evaluation)."""
    from so101.inference.policy_spaces import PolicySpaces
    from so101.sim.randomization import ScenePlacement

    checkpoint, seed, settings, video_path, placement = task
    runner, requirements = _runner_for(checkpoint, settings)
    sim, renderer = _sim_for(requirements, settings)
    # End-effector policies: observations and actions through the FK and the IK (cheap to build per episode).
    spaces = PolicySpaces(sim.model, requirements)
    return run_policy_episode(
        sim, renderer, runner, seed, settings.max_steps(sim.fps), Path(video_path) if video_path else None,
        spaces=spaces if spaces.end_effector else None,
        placement=ScenePlacement.from_json(placement) if placement is not None else None,
    )


MAX_WORKER_DEATHS = 3
"""An evaluation stops after this many worker deaths, or after the same episode killed its worker twice."""
EPISODE_TIMEOUT_S = 1800.0
"""A worker that spends longer than this (wall-clock s) on one episode is taken as hung (a GL deadlock) and killed;
a 15 s episode takes under a minute even on a slow CPU."""


def _worker_main(conn: Connection, threads: int) -> None:
    """Run episodes sent over ``conn`` until ``None`` arrives; answer ``(index, episode, error)`` for each."""
    import torch

    # Workers share the machine's cores: oversubscribed BLAS threads would slow every worker down.
    torch.set_num_threads(threads)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        index, task = message
        try:
            conn.send((index, episode_task(task), None))
        except Exception as err:  # the parent re-raises it; the worker lives on for the next episode
            conn.send((index, None, portable_error(err)))


def portable_error(err: Exception) -> Exception:
    """``err`` if it survives pickling, else a RuntimeError carrying its traceback; user errors stay as they are
    (one line), others carry the worker's traceback as a note."""
    if not isinstance(err, USER_ERRORS):
        err.add_note("in the evaluation worker:\n" + "".join(traceback.format_exception(err)))
    try:
        pickle.dumps(err)
    except Exception:  # an exception that does not pickle travels as its text
        return RuntimeError("".join(traceback.format_exception(err)))
    return err


def note_death(deaths: list[tuple[int, str]], seed: int, how: str, worker: object) -> None:
    """Count a worker's death during the episode of scene ``seed`` (``how`` it died) in ``deaths``, and report it;
    the caller then runs that episode again on a fresh worker.

    Raises:
        EvalWorkerError: ``MAX_WORKER_DEATHS`` deaths in all, or a second one on the same seed.
    """
    deaths.append((seed, how))
    repeated = [s for s, _ in deaths].count(seed) > 1
    if repeated or len(deaths) >= MAX_WORKER_DEATHS:
        listed = ", ".join(f"scene seed {s}: {h}" for s, h in deaths)
        raise EvalWorkerError(
            f"evaluation stopped: its worker processes died {len(deaths)} times ({listed})"
            + (f", twice on scene seed {seed}" if repeated else "")
            + "; run with fewer workers (--workers / --eval.workers), or with 0 workers to see the error in "
            "this process; after a SIGKILL, check the kernel log (dmesg) for the out-of-memory killer",
            seed=seed,
            cause=how,
        )
    log.warning(
        "warning: evaluation worker %s died during the episode of scene seed %s (%s); started another, running "
        "that episode again", worker, seed, how,
    )  # fmt: skip


def _how_it_died(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        return f"killed by {name}" + (" (often the out-of-memory killer)" if name == "SIGKILL" else "")
    return f"exited with status {exitcode}"


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    task: int | None = None
    """Index of the episode it is running."""
    since: float = 0.0
    """``time.monotonic()`` when it was given that episode."""
    hung: bool = False
    """It was killed for running one episode longer than ``EPISODE_TIMEOUT_S``."""


class EvalPool:
    """Worker processes that run evaluation episodes; ``workers=0`` runs them in this process.

    A worker that dies (a GL crash, the out-of-memory killer, SIGKILL) is reported on stderr with the scene seed
    of its episode, replaced by a fresh one, and its episode runs again; after ``MAX_WORKER_DEATHS`` deaths, or
    two on the same episode, the evaluation stops with ``EvalWorkerError``. Waiting watches every worker's process
    as well as its pipe, so a death is seen at once, and a worker silent on one episode for ``EPISODE_TIMEOUT_S``
    is killed and counted as dead: the evaluation never hangs on a worker.
    """

    def __init__(self, workers: int) -> None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.workers = workers
        self._threads = max(1, (os.cpu_count() or 1) // max(1, workers))
        self._pool: list[_Worker] = [self._start() for _ in range(workers)]

    def _start(self) -> _Worker:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_worker_main, args=(child, self._threads), daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    @property
    def pids(self) -> list[int | None]:
        """Process ids of the workers (empty for an in-process pool)."""
        return [worker.process.pid for worker in self._pool]

    def evaluate(
        self,
        checkpoint: Path | str,
        seeds: list[int],
        settings: RolloutSettings,
        video_episodes: int = 0,
        video_dir: Path | None = None,
        step: int | None = None,
        placements: list[ScenePlacement] | None = None,
    ) -> tuple[EvalSummary, list[EvalEpisode]]:
        """Evaluate one checkpoint (its ``pretrained_model`` directory) on scene ``seeds``, or on ``placements``
        (numbered by their seeds: grid scenes); mp4s of the first ``video_episodes`` episodes go to ``video_dir``.
        Results are in seed order.

        Raises:
            EvalWorkerError: workers kept dying (see the class).
        """
        from so101.policies.checkpoint import load_config, resolve_pretrained_dir, sim_requirements

        pretrained = resolve_pretrained_dir(checkpoint)
        fps = sim_requirements(pretrained, load_config(pretrained)).fps
        if placements is not None:
            seeds = [int(placement.seed) for placement in placements]  # type: ignore[arg-type]
        scenes = [p.to_json() for p in placements] if placements is not None else [None] * len(seeds)
        tasks = [
            (
                str(pretrained),
                seed,
                settings,
                str(Path(video_dir) / f"episode_{seed}.mp4") if video_dir is not None and i < video_episodes else None,
                scene,
            )
            for i, (seed, scene) in enumerate(zip(seeds, scenes, strict=True))
        ]
        start = time.perf_counter()
        results = self._run(tasks, seeds) if self.workers else [episode_task(task) for task in tasks]
        elapsed = time.perf_counter() - start
        return summarize(results, fps, elapsed, step=step, checkpoint=str(pretrained)), results

    def _run(self, tasks: list[tuple], seeds: list[int]) -> list[EvalEpisode]:
        """Run ``tasks`` on the workers, replacing those that die."""
        results: list[EvalEpisode | None] = [None] * len(tasks)
        pending = deque(range(len(tasks)))
        deaths: list[tuple[int, str]] = []
        while pending or any(worker.task is not None for worker in self._pool):
            for worker in self._pool:
                if worker.task is None and pending:
                    worker.task, worker.since = pending.popleft(), time.monotonic()
                    with contextlib.suppress(OSError):  # it died while idle: the wait below sees its sentinel
                        worker.conn.send((worker.task, tasks[worker.task]))
            busy = [worker for worker in self._pool if worker.task is not None]
            oldest = min(w.since for w in busy)
            timeout = max(0.0, oldest + EPISODE_TIMEOUT_S - time.monotonic())
            if not wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout):
                for worker in busy:
                    if time.monotonic() - worker.since >= EPISODE_TIMEOUT_S and worker.process.is_alive():
                        worker.hung = True
                        worker.process.kill()
                        worker.process.join()
            for i, worker in enumerate(self._pool):
                if worker.task is None:
                    continue
                try:
                    answer = worker.conn.recv() if worker.conn.poll() else None
                except (EOFError, OSError):
                    answer = None
                if answer is not None:
                    index, episode, error = answer
                    worker.task = None
                    if error is not None:
                        raise error
                    results[index] = episode
                elif not worker.process.is_alive():
                    self._pool[i] = self._replace(worker, seeds, deaths)
                    pending.appendleft(worker.task)
        return [episode for episode in results if episode is not None]

    def _replace(self, worker: _Worker, seeds: list[int], deaths: list[tuple[int, str]]) -> _Worker:
        """Report a dead worker with the seed of its episode and start another; stop when deaths repeat."""
        worker.process.join()
        worker.conn.close()
        assert worker.task is not None  # only busy workers are checked
        how = (
            f"no answer in {EPISODE_TIMEOUT_S:g} s, killed as hung" if worker.hung
            else _how_it_died(worker.process.exitcode)
        )
        note_death(deaths, seeds[worker.task], how, worker.process.pid)
        return self._start()

    def close(self) -> None:
        """Stop the workers (those still running an episode of a stopped evaluation at once); in-process
        evaluation frees its renderers."""
        if not self._pool and self.workers == 0:
            release_simulators()
        for worker in self._pool:
            if worker.task is None:
                with contextlib.suppress(OSError):  # already gone
                    worker.conn.send(None)
                worker.process.join(timeout=30)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join()
            worker.conn.close()
        self._pool = []

    def __enter__(self) -> EvalPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
