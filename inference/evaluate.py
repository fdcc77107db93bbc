"""Headless evaluation of checkpoints in the simulator: ``so101 eval PATH``.

    so101 eval outputs/train/act_run                      # every checkpoint of a run: table + curve
    so101 eval outputs/train/act_run/best --episodes 100 --video 4
    so101 eval CKPT --temporal-ensemble 0.01              # ACT's temporal ensembling (queries every step)

Every checkpoint is evaluated on the same scenes: episode ``i`` uses scene seed ``seed + i`` (default seeds
100000...), far from the seeds scripted recordings use (0...), so evaluation scenes are not training scenes and
checkpoints are compared pairwise rather than through new noise.

Episodes run in worker processes (spawned; each owns a simulator, its renderer and its copy of the policy).
Cameras render at the size the dataset was recorded at, with the checkpoint's render profile; the policy's own
preprocessor resizes them to its training resolution. With action chunking the cameras render only when the
policy takes a new observation (every ``n_action_steps`` steps): the images in between would be discarded.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inference.report import EpisodeResult, EvalSummary, markdown_table, plot_curve, summarize, write_json

if TYPE_CHECKING:
    from policies.act import LoadedPolicy, SimRequirements

DEFAULT_SEED = 100_000
"""First scene seed of evaluations; episode i uses DEFAULT_SEED + i."""


@dataclass
class RolloutSettings:
    """How each episode is run; sent to the workers."""

    episode_length: int = 450
    """Control steps before an episode counts as failed (450 = 15 s at 30 fps)."""
    n_action_steps: int | None = None
    """Actions executed per policy call; None keeps the checkpoint's."""
    temporal_ensemble: float | None = None
    """ACT temporal-ensembling coefficient (queries the policy every step); None: off."""
    device: str | None = None
    """Device of the policy in the workers; None picks cuda, mps or cpu."""
    render_profile: str | None = None
    """Render profile; None uses the checkpoint's (the one its dataset was recorded with, else ``fast``)."""


def eval_seeds(first_seed: int, episodes: int) -> list[int]:
    return [first_seed + i for i in range(episodes)]


# ---------------------------------------------------------------------------------------------- one episode


def _observation(state: np.ndarray, images: dict[str, np.ndarray]) -> dict[str, Any]:
    """The policy's raw observation: unbatched tensors, images (3, H, W) float in [0, 1] (batched by the processor)."""
    import torch

    observation = {"observation.state": torch.from_numpy(state.astype(np.float32))}
    for name, image in images.items():
        observation[f"observation.images.{name}"] = torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0)
    return observation


def run_episode(
    sim: Any,
    renderer: Any,
    loaded: LoadedPolicy,
    seed: int,
    settings: RolloutSettings,
    video_path: Path | None = None,
    viewer: Any = None,
) -> EpisodeResult:
    """Run one episode of ``loaded`` from scene ``seed``; stop on success or after ``episode_length`` steps."""
    import torch

    from sim.video import EpisodeVideo

    policy, pre, post = loaded.policy, loaded.preprocessor, loaded.postprocessor
    ensemble = getattr(policy.config, "temporal_ensemble_coeff", None) is not None
    n_action_steps = getattr(policy.config, "n_action_steps", 1)
    fps = sim.fps
    video = EpisodeVideo(video_path, fps) if video_path is not None else None
    start = time.perf_counter()
    sim.reset(seed)
    policy.reset()
    queue: list[np.ndarray] = []
    policy_s = 0.0
    calls = 0
    step = 0
    try:
        while step < settings.episode_length:
            images = renderer.render(sim.data) if (video is not None or ensemble or not queue) else None
            if video is not None:
                video.add(images, sim.signals.as_dict(), step)
            if ensemble or not queue:
                tick = time.perf_counter()
                with torch.inference_mode():
                    batch = pre(_observation(sim.joint_positions(), images))
                    if ensemble:
                        queue = [post(policy.select_action(batch))[0].numpy()]
                    else:
                        chunk = policy.predict_action_chunk(batch)[:, :n_action_steps]
                        queue = list(post(chunk)[0].numpy())
                policy_s += time.perf_counter() - tick
                calls += 1
            signals = sim.step(queue.pop(0))
            step += 1
            if viewer is not None:
                viewer.sync()
                time.sleep(max(0.0, start + step / fps - time.perf_counter()))
            if signals.success:
                break
        if video is not None:
            video.add(renderer.render(sim.data), sim.signals.as_dict(), step)
    finally:
        if video is not None:
            video.close()
    signals = sim.signals
    return EpisodeResult(
        seed=seed,
        success=bool(signals.success),
        grasped=bool(signals.ever_grasped),
        lifted=bool(signals.ever_lifted),
        released_over_bowl=bool(signals.ever_released_over_bowl),
        steps=step,
        wall_s=time.perf_counter() - start,
        policy_calls=calls,
        policy_s=policy_s,
        video=str(video_path) if video_path is not None else None,
    )


# ---------------------------------------------------------------------------------------------- workers

_SIMS: dict[tuple, tuple[Any, Any]] = {}
_POLICIES: dict[tuple, Any] = {}


def _sim_for(requirements: SimRequirements, settings: RolloutSettings) -> tuple[Any, Any]:
    """This process's simulator and renderer for a camera setup (built once, reused across episodes)."""
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
    return _SIMS[key]


def _policy_for(checkpoint: str, settings: RolloutSettings) -> LoadedPolicy:
    """This process's copy of a checkpoint's policy; reloaded when the weights file changes."""
    from policies.act import load_policy

    weights = Path(checkpoint) / "model.safetensors"
    key = (checkpoint, weights.stat().st_mtime_ns, settings.n_action_steps, settings.temporal_ensemble, settings.device)
    if key not in _POLICIES:
        _POLICIES.clear()  # one policy at a time: evaluations go checkpoint by checkpoint
        _POLICIES[key] = load_policy(
            checkpoint, settings.device, settings.n_action_steps, settings.temporal_ensemble
        )
    return _POLICIES[key]


def _episode_task(task: tuple[str, int, RolloutSettings, str | None]) -> EpisodeResult:
    checkpoint, seed, settings, video_path = task
    loaded = _policy_for(checkpoint, settings)
    sim, renderer = _sim_for(loaded.requirements, settings)
    return run_episode(sim, renderer, loaded, seed, settings, Path(video_path) if video_path else None)


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
    ) -> tuple[EvalSummary, list[EpisodeResult]]:
        """Evaluate one checkpoint (its ``pretrained_model`` directory) on ``seeds``; results in seed order."""
        from policies.act import load_config, resolve_pretrained_dir, sim_requirements

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
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> EvalPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def watch(checkpoint: Path | str, seeds: list[int], settings: RolloutSettings) -> list[EpisodeResult]:
    """Run episodes in this process, shown in MuJoCo's viewer at real-time speed."""
    import mujoco.viewer

    loaded = _policy_for(str(checkpoint), settings)
    sim, renderer = _sim_for(loaded.requirements, settings)
    results = []
    with mujoco.viewer.launch_passive(sim.model, sim.data) as viewer:
        for seed in seeds:
            if not viewer.is_running():
                break
            results.append(run_episode(sim, renderer, loaded, seed, settings, viewer=viewer))
            print(f"seed {seed}: {'success' if results[-1].success else 'failure'} in {results[-1].steps} steps")
    return results


# ---------------------------------------------------------------------------------------------- checkpoints


def checkpoint_step(pretrained_dir: Path) -> int | None:
    """Training step of a checkpoint: its ``training_state/training_step.json`` or ``best/eval.json``, else its
    folder's number."""
    state = pretrained_dir.parent / "training_state" / "training_step.json"
    if state.is_file():
        return int(json.loads(state.read_text())["step"])
    best = pretrained_dir.parent / "eval.json"  # a run's best/ copy records where it came from
    if best.is_file():
        return json.loads(best.read_text()).get("step")
    name = pretrained_dir.parent.name
    return int(name) if name.isdigit() else None


def find_checkpoints(path: Path | str) -> list[Path]:
    """``pretrained_model`` directories under ``path``: every checkpoint of a run, or the one checkpoint given."""
    from policies.act import resolve_pretrained_dir

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    checkpoints_dir = path / "checkpoints"
    if checkpoints_dir.is_dir():
        found = sorted(
            p / "pretrained_model"
            for p in checkpoints_dir.iterdir()
            if not p.is_symlink() and (p / "pretrained_model" / "model.safetensors").is_file()
        )
        if not found:
            raise FileNotFoundError(f"{checkpoints_dir} holds no checkpoint (checkpoints/NNNNNN/pretrained_model)")
        return found
    return [resolve_pretrained_dir(path)]


# ---------------------------------------------------------------------------------------------- command


@dataclass
class EvalCommandConfig:
    """Options of ``so101 eval PATH`` (PATH: a checkpoint, or a training run for all its checkpoints)."""

    path: str = ""
    episodes: int = 30
    workers: int = 2
    seed: int = DEFAULT_SEED
    """Scene seed of the first episode; episode i uses seed + i."""
    video: int = 0
    """Write mp4s of the first K episodes of each checkpoint, with the task signals drawn."""
    n_action_steps: int | None = None
    temporal_ensemble: float | None = None
    """ACT temporal-ensembling coefficient (e.g. 0.01); implies n_action_steps 1."""
    episode_length: int = 450
    device: str | None = None
    render_profile: str | None = None
    render: bool = False
    """Watch the episodes in MuJoCo's viewer (in this process, real time) instead of writing reports."""
    output_dir: str | None = None
    """Where reports go; default: PATH/eval (a run) or next to the checkpoint."""


def _normalise_argv(argv: list[str]) -> tuple[str | None, list[str]]:
    """Split off the positional PATH; accept ``--n-action-steps`` for ``--n_action_steps`` and a bare ``--render``."""
    path = None
    out = []
    for arg in argv:
        if not arg.startswith("-") and path is None and (not out or "=" in out[-1] or not out[-1].startswith("--")):
            path = arg
            continue
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            arg = "--" + name.replace("-", "_") + eq + value
            if arg == "--render":
                arg = "--render=true"
        out.append(arg)
    return path, out


def default_output_dir(path: Path) -> Path:
    if (path / "checkpoints").is_dir():
        return path / "eval"
    pretrained = Path(path)
    if pretrained.name != "pretrained_model" and (pretrained / "pretrained_model").is_dir():
        pretrained = pretrained / "pretrained_model"
    return pretrained.parent / "eval"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 eval``; returns the process exit status."""
    import draccus

    from policies.act import IncompatibleCheckpointError, check_sim_compatibility, load_config

    path_arg, rest = _normalise_argv(list(sys.argv[1:] if argv is None else argv))
    cfg = draccus.parse(config_class=EvalCommandConfig, args=rest)
    cfg.path = path_arg or cfg.path
    if not cfg.path:
        print("so101 eval: give a checkpoint or a training run: so101 eval PATH [--episodes N ...]", file=sys.stderr)
        return 2
    if cfg.episodes < 1:
        print("so101 eval: --episodes must be at least 1", file=sys.stderr)
        return 2
    try:
        checkpoints = find_checkpoints(cfg.path)
        for checkpoint in checkpoints:
            check_sim_compatibility(load_config(checkpoint), checkpoint)
    except (FileNotFoundError, IncompatibleCheckpointError) as error:
        print(f"so101 eval: {error}", file=sys.stderr)
        return 2
    settings = RolloutSettings(
        episode_length=cfg.episode_length,
        n_action_steps=cfg.n_action_steps,
        temporal_ensemble=cfg.temporal_ensemble,
        device=cfg.device,
        render_profile=cfg.render_profile,
    )
    seeds = eval_seeds(cfg.seed, cfg.episodes)
    if cfg.render:
        results = watch(checkpoints[-1], seeds, settings)
        print(f"{sum(r.success for r in results)}/{len(results)} successes")
        return 0
    output = Path(cfg.output_dir) if cfg.output_dir else default_output_dir(Path(cfg.path))
    output.mkdir(parents=True, exist_ok=True)
    summaries: list[EvalSummary] = []
    episodes: dict[str, list[EpisodeResult]] = {}
    with EvalPool(cfg.workers) as pool:
        for checkpoint in checkpoints:
            step = checkpoint_step(checkpoint)
            name = checkpoint.parent.name
            summary, results = pool.evaluate(
                checkpoint, seeds, settings, cfg.video, output / "videos" / name, step=step
            )
            summaries.append(summary)
            episodes[name] = results
            print(f"{name}: {summary.line()}", flush=True)
    write_json(output / "eval_results.json", summaries, episodes)
    table = markdown_table(summaries)
    (output / "eval_results.md").write_text(table)
    plot_curve(output / "eval_curve.png", summaries)
    print(table)
    print(f"wrote {output / 'eval_results.json'}, eval_results.md, eval_curve.png" + (f", videos in {output / 'videos'}" if cfg.video else ""))
    return 0

