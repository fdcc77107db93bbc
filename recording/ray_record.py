"""Scripted recording on a Ray cluster: ``so101 record --teleop scripted --episodes N --backend ray``.

Each Ray worker is a ``ShardRecorder``: the recorder's own set-up (``prepare_session``), episode loop and durable
``DatasetWriter``, writing its episodes into a shard dataset of its own under ``<parent>/.<name>.so101-shards/``.
This process hands out scene seeds in the order a serial recording draws them (``--seed``, ``--seed`` + 1, ...),
never more at once than episodes are still missing, so the saved scenes are exactly those of a serial recording
with the same ``--seed``: the first N seeds whose episodes succeed (or the first N with ``--keep_failed``). At the
end the shards are merged with LeRobot's ``aggregate_datasets`` (``so101 dataset merge``: the workbench's scene
metadata follows the episodes) into ``--dataset.root``, which appears whole, in one rename. Episodes are numbered
shard by shard; each one's scene seed is in ``meta/so101``.

Every saved episode is a durable commit of its shard: a worker that dies (SIGKILL, its node lost) loses only the
episode it was recording, which runs again on a fresh worker with a new shard. The shards' folder must be on a
filesystem that every node mounts at the same path; each worker checks it sees it before recording.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from so101.errors import ClusterError
from so101.ray_cluster import ray_cluster
from so101.recording.episode_loop import EpisodeLoopConfig, EpisodeResult, Outcome, run_episode
from so101.recording.progress import Progress
from so101.recording.record import RecordConfig, RecordSummary, episode_extras, keep_or_discard, prepare_session

log = logging.getLogger(__name__)

WORKER_MODULES = ("so101.recording.ray_record",)
"""What a node must import to record (checked on every node before any episode is sent)."""
MAX_WORKER_DEATHS = 3
"""A recording stops (keeping every saved episode) after this many worker deaths."""
SHARDS_SUFFIX = ".so101-shards"


def shards_dir(root: Path) -> Path:
    """The hidden folder beside the dataset ``root`` where the workers' shard datasets are recorded."""
    root = Path(os.path.abspath(root))
    return root.parent / f".{root.name}{SHARDS_SUFFIX}"


class ShardRecorder:
    """A Ray worker recording scripted episodes into its shard dataset ``root`` (created with its first episode)."""

    def __init__(self, cfg: RecordConfig, root: str) -> None:
        from so101.recording.dataset_writer import DatasetWriter
        from so101.sim.rendering import CameraRenderer

        self.sees_shards = Path(root).parent.is_dir()
        if not self.sees_shards:
            return
        self.cfg = cfg
        self.sim, self.source, cameras, session, extra_features = prepare_session(cfg)
        self.renderer = CameraRenderer(self.sim.model, cameras, cfg.cameras.render_profile)
        dataset = replace(cfg.dataset, root=Path(root))
        self.writer = DatasetWriter.create(dataset, self.sim.fps, cameras, session, extra_features)
        self.loop = EpisodeLoopConfig(cfg.episode_time_s, cfg.settle_s)
        self.extras = episode_extras(cfg)

    def ready(self) -> tuple[int, bool]:
        """The worker's process id on its node, and whether it sees the shards' folder."""
        return os.getpid(), self.sees_shards

    def record(self, seed: int) -> tuple[EpisodeResult, int | None]:
        """Record the episode of scene ``seed``; returns it and its index in the shard when it was saved."""
        placement = self.sim.sample_placement(seed)
        self.sim.reset(placement)
        self.source.wait_for_start(self.sim)
        result = run_episode(self.sim, self.source, placement, self.loop, self.writer, self.renderer, None, self.extras)
        return result, keep_or_discard(self.writer, result, self.cfg.keep_failed)

    def close(self) -> None:
        """End the shard's session (its lock released, its work folder removed)."""
        if self.sees_shards:
            self.writer.finalize()
            self.renderer.close()
            self.source.close()


def record_on_ray(cfg: RecordConfig, progress: Progress | None = None) -> RecordSummary:
    """Record ``cfg.episodes`` scripted episodes on Ray workers into ``cfg.dataset``'s root (see the module).

    Raises:
        FileExistsError: the dataset folder exists already.
        ClusterError, DependencyError: the cluster cannot be used (``so101.ray_cluster``), or its nodes do not see
            the dataset's folder.
    """
    from so101.recording.staged_output import StagedOutput

    root = cfg.dataset.resolved_root()
    progress = progress or Progress(cfg.episodes)
    start = time.perf_counter()
    output = StagedOutput(root, "record", "--dataset.root")
    with output as staging:  # holds the dataset's lock; refuses an existing folder
        shards = shards_dir(root)
        if shards.exists():  # the lock was free: whoever recorded them is dead
            shutil.rmtree(shards)
            print(f"record: removed {shards}, the shards of a recording that was killed", file=progress.stream)
        shards.mkdir(parents=True)
        run = _Run(cfg, shards, progress)
        try:
            with ray_cluster(cfg.ray, "recording with --backend ray", WORKER_MODULES,
                             cfg.workers * cfg.ray.cpus_per_worker) as ray:  # fmt: skip
                run.record(ray)
        except BaseException:
            if not run.saved:
                shutil.rmtree(shards)
            raise
        roots = [shard for shard in run.roots if (shard / "meta" / "info.json").is_file()]
        if roots:
            # Left in place if the merge fails: a later recording removes them, ``so101 dataset merge`` reads them.
            _merge(roots, staging, cfg.dataset.repo_id)
            output.commit()
        shutil.rmtree(shards)
    exists = (root / "meta" / "info.json").is_file()
    return RecordSummary(root, run.saved, run.attempts, run.successes, run.saved if exists else 0, run.frames,
                         time.perf_counter() - start, run.stopped, dataset_exists=exists)  # fmt: skip


def _merge(roots: list[Path], staging: Path, repo_id: str) -> None:
    """The shards as one dataset at ``staging`` (LeRobot's aggregation, scene metadata in step)."""
    from so101.recording.dataset_merge import merge

    if len(roots) == 1:
        shutil.copytree(roots[0], staging)
        return
    merge(roots, staging, repo_id)


class _Run:
    """Seeds handed out, workers replaced, counts kept, for one recording."""

    def __init__(self, cfg: RecordConfig, shards: Path, progress: Progress) -> None:
        self.cfg, self.shards, self.progress = cfg, shards, progress
        self.roots: list[Path] = []
        self.saved = self.attempts = self.successes = self.frames = 0
        self.stopped = ""

    def _start(self, ray: Any, actor_class: Any) -> tuple[Any, int, int]:
        """A new worker with a new shard: ``(actor, shard number, pid)``."""
        shard = len(self.roots)
        self.roots.append(self.shards / f"shard_{shard:03d}")
        actor = actor_class.remote(self.cfg, str(self.roots[-1]))
        pid, sees = ray.get(actor.ready.remote())
        if not sees:
            raise ClusterError(
                f"a Ray worker does not see {self.shards.parent}: with --backend ray, --dataset.root must be on a "
                "filesystem that every node mounts at the same path (NFS, a shared volume)",
                self.cfg.ray.address,
            )
        return actor, shard, pid

    def record(self, ray: Any) -> None:
        from ray.exceptions import RayActorError

        actor_class = ray.remote(num_cpus=self.cfg.ray.cpus_per_worker, max_restarts=0)(ShardRecorder)
        workers = [self._start(ray, actor_class) for _ in range(self.cfg.workers)]
        seeds: list[int] = []  # seeds to run again (their worker died), before new ones
        next_seed, failures, deaths = self.cfg.seed, 0, 0
        running: dict[Any, tuple[int, int]] = {}  # result reference -> (worker slot, seed)
        try:
            while True:
                for slot, (actor, _, _) in enumerate(workers):
                    busy = any(s == slot for s, _ in running.values())
                    if busy or self.saved + len(running) >= self.cfg.episodes or self.stopped:
                        continue
                    seed = seeds.pop(0) if seeds else next_seed
                    next_seed = max(next_seed, seed + 1)
                    running[actor.record.remote(seed)] = (slot, seed)
                if not running:
                    break
                (ref,), _ = ray.wait(list(running), num_returns=1)
                slot, seed = running.pop(ref)
                actor, shard, pid = workers[slot]
                try:
                    result, index = ray.get(ref)
                except RayActorError as err:
                    deaths += 1
                    how = " ".join(str(err).split())[:300]
                    log.warning("warning: recording worker %s (Ray) died during the episode of scene seed %s (%s); "
                                "its saved episodes are kept", pid, seed, how)  # fmt: skip
                    if not self._saved_before_death(seed, shard):
                        seeds.insert(0, seed)
                    if deaths >= MAX_WORKER_DEATHS:
                        self.stopped = f"stopped after {deaths} worker deaths; every saved episode is kept"
                        continue
                    workers[slot] = self._start(ray, actor_class)
                    continue
                self._count(result, index, shard)
                failures = 0 if index is not None else failures + 1
                if failures >= self.cfg.max_consecutive_failures and not self.stopped:
                    self.stopped = f"gave up after {failures} failed episodes in a row"
        except KeyboardInterrupt:
            self.stopped = "interrupted"
        finally:
            for actor, _, _ in workers:
                with contextlib.suppress(Exception):  # a dead worker's shard keeps its committed episodes
                    ray.get(actor.close.remote(), timeout=60)
                with contextlib.suppress(Exception):
                    ray.kill(actor, no_restart=True)

    def _saved_before_death(self, seed: int, shard: int) -> bool:
        """Whether a dead worker committed the episode of ``seed`` before it could answer (then it is counted, not
        recorded twice)."""
        from so101.recording.scene_metadata import SceneMetadata

        root = self.roots[shard]
        if not (root / "meta" / "info.json").is_file():
            return False
        for record in SceneMetadata(root).episodes():
            if record.placement.seed == seed:
                self.attempts += 1
                self.successes += record.outcome == Outcome.SUCCESS.value
                self.saved += 1
                self.frames += record.frames
                log.info("the episode of scene seed %s was saved in shard %s before its worker died", seed, shard)
                return True
        return False

    def _count(self, result: EpisodeResult, index: int | None, shard: int) -> None:
        self.attempts += 1
        self.successes += result.outcome is Outcome.SUCCESS
        if index is not None:
            self.saved += 1
            self.frames += result.frames
        self.progress.episode(result, index, shard)
