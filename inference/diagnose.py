"""``so101 diagnose``: compare a training dataset with deployment or evaluation recordings, and flag what differs.

    so101 diagnose --train.root data/pick --eval.root data/deployed --output outputs/diagnose

Both are LeRobot datasets with the SO-101 joint features (``observation.state``, ``action``: six joints in dataset
units) and, optionally, cameras. ``so101 eval`` does not record datasets today; the evaluation side is any LeRobot
dataset recorded on the real arm (``lerobot-record``, ``so101 deploy``) or in the simulator (``so101 record``).

What is compared, and the threshold of each flag (the Markdown report states them beside the figures):

* per joint, ``observation.state`` and ``action``: mean and 5/50/95th percentiles; flagged when the shift of the
  means, less its 95% confidence interval, is more than ``MEAN_SHIFT_SPREADS`` pooled standard deviations (floored at
  ``MIN_SPREAD`` dataset units). The interval comes from the episodes, not the frames: the frames of one episode
  share its scene, so an episode is one sample; the shift is that of the episodes' means and its interval
  Student's t over the spread of the episode means (pooled, ``n_train + n_eval - 2`` degrees of freedom). Two
  recordings of a few episodes each then differ by their scenes without a flag, while a shift that more episodes
  would confirm is flagged as before (the interval shrinks as episodes are added); with one episode on each side
  nothing is known of the spread between episodes, and no shift is flagged;
* gripper-closed fraction (action below ``GRIPPER_CLOSED`` of 0..100): flagged beyond ``GRIPPER_FRACTION_GAP``;
* frame-to-frame action jumps per joint (99th percentile and maximum of |a[t+1] - a[t]| within episodes):
  flagged when the evaluation's 99th percentile or maximum exceeds ``JUMP_RATIO`` times the training's (and
  ``MIN_SPREAD``): jumps at the boundaries of 100-step chunks are 1% of the steps, which a percentile alone misses;
* start states: each evaluation episode's first ``observation.state`` as per-joint z-scores against the training
  episodes' first states (standard deviation floored at ``MIN_SPREAD``); flagged beyond ``START_Z``;
* cameras: per camera, mean brightness and colour of sampled frames (flagged beyond ``BRIGHTNESS_GAP`` levels of
  255), and the correlation of each evaluation camera's mean image with each training camera's: a camera that
  looks more like another training camera than its namesake is flagged as swapped, one that looks like none
  (correlation below ``VIEW_CORRELATION``) as moved;
* fps, task strings and camera sets, which must be equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from so101.command import run_command
from so101.errors import ConfigError, DatasetError
from so101.kinematics.units import GRIPPER_INDEX, JOINT_FEATURE_NAMES, JOINT_NAMES
from so101.recording.dataset_writer import DatasetRef

if TYPE_CHECKING:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

MEAN_SHIFT_SPREADS = 1.0
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
"""Student's t, 97.5th percentile, for 1..30 degrees of freedom (beyond: 1.96 + 2.4 / df, within 0.2%)."""
MIN_SPREAD = 2.0
"""Dataset units (degrees, or percent of the gripper's range): spreads below this are taken as this."""
GRIPPER_CLOSED = 20.0
GRIPPER_FRACTION_GAP = 0.10
JUMP_RATIO = 2.0
START_Z = 3.0
BRIGHTNESS_GAP = 20.0
VIEW_CORRELATION = 0.5
SWAP_MARGIN = 0.1
"""A camera is called swapped when another training camera correlates better than its namesake by this much."""
IMAGE_SIDE = 32
"""Sampled frames are averaged down to IMAGE_SIDE x IMAGE_SIDE before they are compared."""
IMAGE_PREFIX = "observation.images."


@dataclass
class DiagnoseConfig:
    """Options of ``so101 diagnose``."""

    train: DatasetRef = field(default_factory=lambda: DatasetRef(repo_id="local/train"))
    """The training dataset (``--train.root``)."""
    eval: DatasetRef = field(default_factory=lambda: DatasetRef(repo_id="local/eval"))
    """The deployment or evaluation recordings (``--eval.root``)."""
    output: Path = Path("outputs/diagnose")
    """Folder of the report (``report.md``) and its plots."""
    frames_per_episode: int = 4
    """Frames sampled per episode and camera for the image statistics."""
    max_episodes: int = 25
    """Episodes (evenly spread) whose frames are sampled, per dataset."""

    def __post_init__(self) -> None:
        if self.frames_per_episode < 1:
            raise ConfigError("frames_per_episode", self.frames_per_episode, "must be at least 1")
        if self.max_episodes < 1:
            raise ConfigError("max_episodes", self.max_episodes, "must be at least 1")


@dataclass
class DatasetSummary:
    """What diagnose reads of one dataset. Joint arrays in dataset units, JOINT_NAMES order."""

    name: str
    root: Path
    fps: int
    tasks: list[str]
    states: np.ndarray
    """(N, 6) every frame's ``observation.state``."""
    actions: np.ndarray
    """(N, 6) every frame's ``action``."""
    episode_ends: np.ndarray
    """(E,) index one past each episode's last frame in ``states``/``actions``."""
    mean_images: dict[str, np.ndarray] = field(default_factory=dict)
    """Camera -> (IMAGE_SIDE, IMAGE_SIDE, 3) mean of the sampled frames, 0..255."""

    def episode_means(self, values: np.ndarray) -> np.ndarray:
        """(E, 6) each episode's mean of ``values`` ((N, 6): ``states`` or ``actions``)."""
        starts = np.concatenate([[0], self.episode_ends[:-1]])
        return np.add.reduceat(values, starts, axis=0) / np.diff(np.concatenate([[0], self.episode_ends]))[:, None]

    @property
    def starts(self) -> np.ndarray:
        """(E, 6) each episode's first state."""
        return self.states[np.concatenate([[0], self.episode_ends[:-1]])]

    def jumps(self) -> np.ndarray:
        """(M, 6) |a[t+1] - a[t]| within episodes."""
        deltas = np.abs(np.diff(self.actions, axis=0))
        inside = np.ones(len(deltas), dtype=bool)
        inside[self.episode_ends[:-1] - 1] = False  # the step from one episode's last frame to the next's first
        return deltas[inside]


@dataclass
class Flag:
    """One difference found: which check, what was measured, and what to check on the set-up."""

    check: str
    subject: str
    measured: str
    threshold: str
    advice: str


def read_dataset(ref: DatasetRef, name: str, frames_per_episode: int, max_episodes: int) -> DatasetSummary:
    """Joint arrays of every frame and mean images of sampled frames of the dataset ``ref`` names.

    Raises:
        DatasetError: the dataset is missing, or its state or action is not the six SO-101 joints.
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = ref.existing_root(f"--{name}.root")
    dataset = LeRobotDataset(ref.repo_id, root=root)
    for key in ("observation.state", "action"):
        feature = dataset.meta.features.get(key)
        if feature is None or list(feature.get("names") or []) != list(JOINT_FEATURE_NAMES):
            raise DatasetError(
                f"--{name}.root {root}: {key!r} is not the six SO-101 joints {list(JOINT_FEATURE_NAMES)}; diagnose "
                "compares joint-space datasets"
            )
    columns = dataset.hf_dataset.with_format("numpy")
    states = np.asarray(columns["observation.state"], dtype=np.float64)
    actions = np.asarray(columns["action"], dtype=np.float64)
    ends = np.asarray([int(row["dataset_to_index"]) for row in dataset.meta.episodes]) - int(
        dataset.meta.episodes[0]["dataset_from_index"]
    )
    summary = DatasetSummary(
        name, root, int(dataset.fps), list(dataset.meta.tasks.index), states, actions, ends
    )
    for key in dataset.meta.video_keys:
        summary.mean_images[key.removeprefix(IMAGE_PREFIX)] = _mean_image(
            dataset, key, frames_per_episode, max_episodes
        )
    return summary


def _mean_image(dataset: LeRobotDataset, key: str, frames_per_episode: int, max_episodes: int) -> np.ndarray:
    """Mean of frames sampled evenly in evenly chosen episodes, averaged down to IMAGE_SIDE squared, 0..255."""
    import torch
    from lerobot.datasets.video_utils import decode_video_frames

    meta = dataset.meta
    episodes = np.unique(np.linspace(0, meta.total_episodes - 1, min(max_episodes, meta.total_episodes)).astype(int))
    total = torch.zeros(3, IMAGE_SIDE, IMAGE_SIDE, dtype=torch.float64)
    count = 0
    for index in episodes:
        row = meta.episodes[int(index)]
        length = int(row["length"])
        frames = np.unique(np.linspace(0, length - 1, min(frames_per_episode, length)).astype(int))
        offset = float(row[f"videos/{key}/from_timestamp"])
        path = dataset.root / meta.get_video_file_path(int(index), key)
        timestamps = [float(offset + int(f) / meta.fps) for f in frames]
        decoded = decode_video_frames(path, timestamps, dataset.tolerance_s, dataset.video_backend)
        small = torch.nn.functional.interpolate(decoded, size=(IMAGE_SIDE, IMAGE_SIDE), mode="area")
        total += small.double().sum(dim=0)
        count += len(small)
    return (total / count * 255.0).permute(1, 2, 0).numpy()


# ---------------------------------------------------------------------- comparisons


def spread(*arrays: np.ndarray) -> np.ndarray:
    """Pooled per-joint standard deviation of (N, 6) arrays, floored at MIN_SPREAD."""
    variances = np.mean([np.var(a, axis=0) for a in arrays], axis=0)
    return np.maximum(np.sqrt(variances), MIN_SPREAD)


def shift_interval(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per joint, the shift of the episode means from ``a`` to ``b`` ((E, 6) each) and the half-width of its 95%
    confidence interval (Student's t, pooled variance); the half-width is infinite with one episode on each side."""
    shift = b.mean(axis=0) - a.mean(axis=0)
    df = len(a) + len(b) - 2
    if df < 1:
        return shift, np.full(shift.shape, np.inf)
    pooled = (np.sum((a - a.mean(axis=0)) ** 2, axis=0) + np.sum((b - b.mean(axis=0)) ** 2, axis=0)) / df
    t = T_975[df - 1] if df <= len(T_975) else 1.96 + 2.4 / df
    return shift, t * np.sqrt(pooled * (1.0 / len(a) + 1.0 / len(b)))


def image_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two mean images' pixels (1: the same view, about 0: unrelated)."""
    x, y = a.ravel() - a.mean(), b.ravel() - b.mean()
    denominator = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y / denominator) if denominator > 0 else 0.0


def camera_correlations(train: DatasetSummary, evaluation: DatasetSummary) -> dict[tuple[str, str], float]:
    """(evaluation camera, training camera) -> correlation of their mean images."""
    return {
        (e, t): image_correlation(evaluation.mean_images[e], train.mean_images[t])
        for e in evaluation.mean_images
        for t in train.mean_images
    }


def compare(train: DatasetSummary, evaluation: DatasetSummary) -> list[Flag]:
    """Every difference beyond its threshold, in the order of the report."""
    flags = _compare_setup(train, evaluation)
    for key, a, b in (("state", train.states, evaluation.states), ("action", train.actions, evaluation.actions)):
        shift, half = shift_interval(train.episode_means(a), evaluation.episode_means(b))
        scale = spread(a, b)
        # The shift must exceed the threshold even at the near end of its interval.
        for j in np.flatnonzero(np.abs(shift) - half > MEAN_SHIFT_SPREADS * scale):
            flags.append(
                Flag(
                    f"{key} distribution", JOINT_NAMES[j],
                    f"mean {a[:, j].mean():.1f} -> {b[:, j].mean():.1f} ({shift[j] / scale[j]:+.1f} +- "
                    f"{half[j] / scale[j]:.1f} spreads over {len(train.episode_ends)} and "
                    f"{len(evaluation.episode_ends)} episodes)",
                    f"> {MEAN_SHIFT_SPREADS:g} pooled std (min {MIN_SPREAD:g}) beyond the 95% interval",
                    _shift_advice(j, key),
                )
            )
    closed = [float(np.mean(d.actions[:, GRIPPER_INDEX] < GRIPPER_CLOSED)) for d in (train, evaluation)]
    if abs(closed[1] - closed[0]) > GRIPPER_FRACTION_GAP:
        flags.append(
            Flag(
                "gripper closed fraction", "gripper", f"{closed[0]:.0%} -> {closed[1]:.0%}",
                f"gap > {GRIPPER_FRACTION_GAP:.0%} (closed: action < {GRIPPER_CLOSED:g})",
                "the gripper's calibration (0 closed, 100 open) and units on both sides; a policy that never "
                "closes or never opens has lost the grasp cue (cameras, task string)",
            )
        )
    flags += _compare_jumps(train, evaluation)
    flags += _compare_starts(train, evaluation)
    flags += _compare_cameras(train, evaluation)
    return flags


def _shift_advice(joint: int, key: str) -> str:
    if joint == GRIPPER_INDEX:
        return "gripper calibration and units (0 closed .. 100 open, use_degrees), and the grasp itself"
    where = "the arm's calibration and units (use_degrees, range_m100_100)" if key == "state" else "the policy's inputs"
    return f"{where}; the scene (object positions) may differ from training"


def _compare_setup(train: DatasetSummary, evaluation: DatasetSummary) -> list[Flag]:
    flags = []
    if train.fps != evaluation.fps:
        flags.append(
            Flag("fps", "dataset", f"{train.fps} -> {evaluation.fps}", "equal",
                 "run the policy at the fps it was trained at (chunks are timed in frames)")
        )
    unknown = sorted(set(evaluation.tasks) - set(train.tasks))
    if unknown:
        flags.append(
            Flag("task string", "task", f"{unknown} not in training's {train.tasks}", "equal",
                 "give the policy exactly a training task string; a different one can drop success to 0%")
        )
    missing, extra = sorted(set(train.mean_images) - set(evaluation.mean_images)), sorted(
        set(evaluation.mean_images) - set(train.mean_images)
    )
    if missing or extra:
        flags.append(
            Flag("camera set", "cameras", f"missing {missing}, extra {extra}", "equal",
                 "connect the cameras under the names the policy was trained with")
        )
    return flags


def _compare_jumps(train: DatasetSummary, evaluation: DatasetSummary) -> list[Flag]:
    flags = []
    a, b = train.jumps(), evaluation.jumps()
    if len(a) == 0 or len(b) == 0:
        return flags
    p99a, p99b = np.percentile(a, 99, axis=0), np.percentile(b, 99, axis=0)
    peak_a, peak_b = a.max(axis=0), b.max(axis=0)
    beyond = (p99b > np.maximum(JUMP_RATIO * p99a, MIN_SPREAD)) | (peak_b > np.maximum(JUMP_RATIO * peak_a, MIN_SPREAD))
    for j in np.flatnonzero(beyond):
        flags.append(
            Flag(
                "frame-to-frame jumps", JOINT_NAMES[j],
                f"p99 {p99a[j]:.1f} -> {p99b[j]:.1f}, max {peak_a[j]:.1f} -> {peak_b[j]:.1f} per frame",
                f"p99 or max > {JUMP_RATIO:g}x training's (and > {MIN_SPREAD:g})",
                "jumps at chunk boundaries: fewer n_action_steps, temporal ensembling, or a per-step bound",
            )
        )
    return flags


def start_z_scores(train: DatasetSummary, evaluation: DatasetSummary) -> np.ndarray:
    """(E_eval, 6) per-joint z-scores of the evaluation starts against the training starts."""
    starts = train.starts
    return (evaluation.starts - starts.mean(axis=0)) / np.maximum(starts.std(axis=0), MIN_SPREAD)


def _compare_starts(train: DatasetSummary, evaluation: DatasetSummary) -> list[Flag]:
    z = start_z_scores(train, evaluation)
    far = np.flatnonzero(np.abs(z).max(axis=1) > START_Z)
    if len(far) == 0:
        return []
    worst = int(far[np.argmax(np.abs(z[far]).max(axis=1))])
    joint = int(np.argmax(np.abs(z[worst])))
    return [
        Flag(
            "start state", f"{len(far)} of {len(z)} episodes",
            f"episodes {far.tolist()[:10]}; worst: episode {worst}, {JOINT_NAMES[joint]} z = {z[worst, joint]:+.1f}",
            f"|z| > {START_Z:g} (std min {MIN_SPREAD:g})",
            "the arm's pose at each episode's start: it should be the training start pose (move it there slowly "
            "before each episode: so101 deploy --move_to_start)",
        )
    ]


def _compare_cameras(train: DatasetSummary, evaluation: DatasetSummary) -> list[Flag]:
    flags = []
    correlations = camera_correlations(train, evaluation)
    for camera in sorted(set(train.mean_images) & set(evaluation.mean_images)):
        own = correlations[(camera, camera)]
        best = max(train.mean_images, key=lambda t: correlations[(camera, t)])
        if best != camera and correlations[(camera, best)] > own + SWAP_MARGIN:
            flags.append(
                Flag("camera swapped", camera,
                     f"looks like training's {best} (r = {correlations[(camera, best)]:.2f}) more than its own "
                     f"(r = {own:.2f})", f"another camera better by > {SWAP_MARGIN:g}",
                     f"the cameras' order or ports: {camera} and {best} are probably swapped")
            )
            continue  # its brightness differs because it is another camera: one flag says it all
        if own < VIEW_CORRELATION:
            flags.append(
                Flag("camera view", camera, f"r = {own:.2f} with training's {camera}", f"r < {VIEW_CORRELATION:g}",
                     "the camera's mounting and angle: it does not see what it saw in training")
            )
        before, after = train.mean_images[camera], evaluation.mean_images[camera]
        colour = after.mean(axis=(0, 1)) - before.mean(axis=(0, 1))
        if abs(after.mean() - before.mean()) > BRIGHTNESS_GAP or np.abs(colour).max() > BRIGHTNESS_GAP:
            flags.append(
                Flag("camera brightness", camera,
                     f"mean {before.mean():.0f} -> {after.mean():.0f}, RGB shift {colour.round().astype(int).tolist()}",
                     f"> {BRIGHTNESS_GAP:g} of 255", "lighting, exposure and white balance of this camera")
            )
    return flags


# ---------------------------------------------------------------------- command


def _diagnose(cfg: DiagnoseConfig) -> int:
    from so101.inference.diagnose_report import write_report

    train = read_dataset(cfg.train, "train", cfg.frames_per_episode, cfg.max_episodes)
    evaluation = read_dataset(cfg.eval, "eval", cfg.frames_per_episode, cfg.max_episodes)
    flags = compare(train, evaluation)
    report = write_report(train, evaluation, flags, Path(cfg.output))
    for flag in flags:
        print(f"FLAG {flag.check} [{flag.subject}]: {flag.measured}; check {flag.advice}")
    verdict = f"{len(flags)} difference(s) flagged" if flags else "no difference beyond the thresholds"
    print(f"diagnose: {verdict}; report: {report}")
    return 1 if flags else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 diagnose``; exits 1 when something is flagged."""
    return run_command("diagnose", DiagnoseConfig, _diagnose, argv)
