"""Evaluation on a Ray cluster: ``RayEvalPool``, the ``--backend ray`` of ``so101 eval`` and ``so101 bench eval``.

The same core as the local pool (``so101.inference.evaluate``): the same tasks, one per (checkpoint, scene seed),
run by the same episode function (``episode_task``) into the same ``EvalEpisode``; only the workers differ. Each
worker is a Ray actor on some node of the cluster, holding its simulator, its headless camera renderer and its copy
of the policy, loaded once per checkpoint and reused across that checkpoint's episodes. What travels to a worker is
the task (the checkpoint's folder, a seed, the settings): the checkpoint is read by path, so the nodes share the
filesystem that holds it (or the same path on each); videos are written by the workers to ``--output_dir``.

A worker that dies (its node lost, the out-of-memory killer, SIGKILL) is reported with the scene seed of its
episode, replaced by a fresh actor, and its episode runs again; deaths stop the evaluation as in the local pool
(``note_death``). A worker silent on one episode for ``EPISODE_TIMEOUT_S`` is killed as hung.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from so101.errors import ConfigError
from so101.inference import evaluate
from so101.inference.evaluate import EvalPool, episode_task, note_death, portable_error
from so101.inference.report import EvalEpisode
from so101.ray_cluster import RayOptions, ray_cluster

WORKER_MODULES = ("so101.inference.evaluate", "so101.inference.ray_eval")
"""What a node must import to run evaluation episodes (checked on every node before any episode is sent)."""


class EpisodeActor:
    """A Ray worker running evaluation episodes with ``episode_task`` (its simulator and policy kept between them)."""

    def __init__(self, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)

    def pid(self) -> int:
        """The worker's process id on its node."""
        return os.getpid()

    def run(self, index: int, task: tuple) -> tuple[int, EvalEpisode | None, Exception | None]:
        """Run task ``index``; answers ``(index, episode, error)`` as the local pool's workers do."""
        try:
            return index, episode_task(task), None
        except Exception as err:  # re-raised by the driver; the actor lives on
            return index, None, portable_error(err)


@dataclass
class _Slot:
    actor: Any
    pid: int
    ref: Any = None
    """The running episode's result reference."""
    task: int | None = None
    since: float = 0.0


class RayEvalPool(EvalPool):
    """``workers`` Ray actors running evaluation episodes on the cluster of ``options``; ``evaluate`` and the
    results are those of ``EvalPool``.

    Raises:
        ConfigError: ``workers`` below 1, or more than the cluster has CPUs for.
        ClusterError, DependencyError: the cluster cannot be used (see ``so101.ray_cluster.ray_cluster``).
    """

    def __init__(self, workers: int, options: RayOptions | None = None) -> None:
        if workers < 1:
            raise ConfigError("workers", workers, "must be at least 1 with --backend ray")
        self.workers = workers
        self.options = options or RayOptions()
        self._exit = contextlib.ExitStack()
        self._slots: list[_Slot] = []
        try:
            self.ray = self._exit.enter_context(ray_cluster(
                self.options, "evaluation with --backend ray", WORKER_MODULES, workers * self.options.cpus_per_worker
            ))  # fmt: skip
            self._actor_class = self.ray.remote(num_cpus=self.options.cpus_per_worker, max_restarts=0)(EpisodeActor)
            actors = [self._actor_class.remote(self.options.cpus_per_worker) for _ in range(workers)]
            pids = self.ray.get([actor.pid.remote() for actor in actors])
            self._slots = [_Slot(actor, pid) for actor, pid in zip(actors, pids, strict=True)]
        except BaseException:
            self.close()
            raise

    def _start_slot(self) -> _Slot:
        actor = self._actor_class.remote(self.options.cpus_per_worker)
        return _Slot(actor, self.ray.get(actor.pid.remote()))

    @property
    def pids(self) -> list[int | None]:
        """Process ids of the Ray workers (on their nodes)."""
        return [slot.pid for slot in self._slots]

    def _run(self, tasks: list[tuple], seeds: list[int]) -> list[EvalEpisode]:
        """Run ``tasks`` on the actors, replacing those that die."""
        from ray.exceptions import RayActorError

        results: list[EvalEpisode | None] = [None] * len(tasks)
        pending = deque(range(len(tasks)))
        deaths: list[tuple[int, str]] = []
        while pending or any(slot.task is not None for slot in self._slots):
            for slot in self._slots:
                if slot.task is None and pending:
                    slot.task, slot.since = pending.popleft(), time.monotonic()
                    slot.ref = slot.actor.run.remote(slot.task, tasks[slot.task])
            busy = {slot.ref: slot for slot in self._slots if slot.task is not None}
            timeout = max(0.0, min(s.since for s in busy.values()) + evaluate.EPISODE_TIMEOUT_S - time.monotonic())
            ready, _ = self.ray.wait(list(busy), num_returns=1, timeout=timeout)
            for i, slot in enumerate(self._slots):
                if slot.task is None:
                    continue
                how = None
                if slot.ref in ready:
                    try:
                        index, episode, error = self.ray.get(slot.ref)
                    except RayActorError as err:
                        how = "its Ray worker died: " + " ".join(str(err).split())[:300]
                    else:
                        slot.task = None
                        if error is not None:
                            raise error
                        results[index] = episode
                elif time.monotonic() - slot.since >= evaluate.EPISODE_TIMEOUT_S:
                    how = f"no answer in {evaluate.EPISODE_TIMEOUT_S:g} s, killed as hung"
                    self.ray.kill(slot.actor, no_restart=True)
                if how is not None:
                    assert slot.task is not None
                    with contextlib.suppress(Exception):  # it is dead already
                        self.ray.kill(slot.actor, no_restart=True)
                    note_death(deaths, seeds[slot.task], how, f"{slot.pid} (Ray)")
                    pending.appendleft(slot.task)
                    self._slots[i] = self._start_slot()
        return [episode for episode in results if episode is not None]

    def close(self) -> None:
        """Stop the actors and leave the cluster (a ``local`` one stops)."""
        for slot in self._slots:
            with contextlib.suppress(Exception):  # already gone
                self.ray.kill(slot.actor, no_restart=True)
        self._slots = []
        self._exit.close()


def make_pool(backend: str, workers: int, options: RayOptions | None = None) -> EvalPool:
    """The evaluation pool of ``--backend``: ``local`` (worker processes on this machine) or ``ray``."""
    if backend == "ray":
        return RayEvalPool(workers, options)
    return EvalPool(workers)
