"""Preflight of ``so101 deploy``: what must match between training and the real arm before it moves.

Each check gives one report line with, when it fails, its own fix; a failed check refuses the run (the refusal
names every failed check with its fix) unless ``--allow <check>`` overrides it:

* ``cameras``: the robot's camera names equal the policy's (none missing, none extra), each at the training
  resolution and the policy's fps;
* ``camera_views``: each live frame looks most like the training frames of the camera of its own name (swapped
  or moved cameras are named; while the arm is away from the training start pose a camera on the arm sees another
  view, so the check then asks for the start pose first, not for a swap);
* ``task``: the task string equals a training task exactly (the nearest one is shown);
* ``units``: the robot's ``use_degrees`` gives the units of the training data;
* ``start_pose``: the arm is within ``--start_tolerance_deg`` of a training episode's first state on every joint;
* ``timing``: a policy call on the warm-up fits the control period with the chunk settings.

LeRobot 0.4.4's ``lerobot-record --policy.path`` checks only that one camera set contains the other, and nothing
of task, units, start pose or timing. ``TrainingReference`` reads what the checks compare with from the training
dataset.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from so101.errors import PreflightError
from so101.kinematics.units import JOINT_NAMES, Normalization

CHECKS: tuple[str, ...] = ("cameras", "camera_views", "task", "units", "start_pose", "timing")
"""The checks, by the names ``--allow`` takes."""

VIEW_SIZE = (32, 24)
"""Width and height (pixels) frames are reduced to before their views are compared."""


@dataclass
class CheckResult:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str
    """What was found, e.g. ``overhead_cam 96x128 @ 30 fps, wrist_cam 96x128 @ 30 fps``."""
    fix: str = ""
    """What to do when it failed."""

    def line(self, allowed: bool = False) -> str:
        mark = "ok" if self.ok else ("ALLOWED" if allowed else "FAIL")
        text = f"  [{mark:^7}] {self.name:<12} {self.detail}"
        return text if self.ok or not self.fix else f"{text}. {self.fix}"


@dataclass
class TrainingReference:
    """What the policy was trained on, read from its dataset."""

    root: Path
    tasks: list[str]
    start_states: np.ndarray
    """(episodes, 6) the first ``observation.state`` of each episode, dataset units."""
    units: Normalization
    units_source: str
    """Where ``units`` comes from, for the report."""
    frames: dict[str, list[np.ndarray]] = field(default_factory=dict)
    """Camera name -> uint8 (H, W, 3) first frames of a few episodes."""

    @classmethod
    def load(cls, root: Path, cameras: list[str], episodes: int = 3) -> TrainingReference:
        """Read the tasks, start states and units of the dataset at ``root``, and the first frame of
        ``episodes`` episodes per camera."""
        import pandas as pd
        from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

        root = Path(root)
        if not (root / "meta" / "info.json").is_file():
            raise FileNotFoundError(f"the training dataset {root} is not a LeRobot dataset (no meta/info.json)")
        meta = LeRobotDatasetMetadata("training/dataset", root=root)
        tasks = [str(task) for task in meta.tasks.index]
        data = pd.concat(pd.read_parquet(path) for path in sorted((root / "data").glob("*/*.parquet")))
        firsts = data[data["frame_index"] == 0]
        # An end-effector dataset (so101 convert-ee --state) keeps its joints beside the converted state.
        state_key = "joints.observation.state" if "joints.observation.state" in data else "observation.state"
        start_states = np.stack(firsts[state_key].to_numpy()).astype(np.float64)
        units, source = training_units(root, meta.info, state_key)
        frames: dict[str, list[np.ndarray]] = {}
        wanted = [name for name in cameras if f"observation.images.{name}" in meta.features]
        if wanted:
            chosen = list(range(min(episodes, meta.total_episodes)))
            dataset = LeRobotDataset("training/dataset", root=root, episodes=chosen)
            offset = 0  # the frames of the chosen episodes follow each other from index 0
            for episode in chosen:
                item = dataset[offset]
                offset += int(meta.episodes["length"][episode])
                for name in wanted:
                    image = item[f"observation.images.{name}"].permute(1, 2, 0).numpy()
                    frames.setdefault(name, []).append((np.clip(image, 0, 1) * 255).astype(np.uint8))
        return cls(root, tasks, start_states, units, source, frames)


def training_units(root: Path, info: dict[str, Any], state_key: str) -> tuple[Normalization, str]:
    """The unit convention of the training dataset's joints and why, decided as ``so101 convert-ee`` decides it
    (``so101.recording.convert_ee_source.detect_units``: workbench recording, joint names, value ranges)."""
    from so101.recording.convert_ee_source import detect_units
    from so101.sim.scene import build_scene

    decision = detect_units(Path(root), info, [state_key], build_scene().limits)
    return decision.units, decision.reason


def check_cameras(
    live: dict[str, tuple[int, int, int | None]], expected: dict[str, tuple[int, int]], fps: int
) -> CheckResult:
    """``live``: the robot's cameras, name -> (height, width, fps); ``expected``: the policy's, name ->
    (height, width) of its training data."""
    problems = []
    missing = sorted(set(expected) - set(live))
    extra = sorted(set(live) - set(expected))
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if extra:
        problems.append(f"extra {', '.join(extra)}")
    for name in sorted(set(live) & set(expected)):
        height, width, camera_fps = live[name]
        if (height, width) != expected[name]:
            problems.append(f"{name} is {height}x{width}, trained at {expected[name][0]}x{expected[name][1]}")
        if camera_fps is not None and camera_fps != fps:
            problems.append(f"{name} runs at {camera_fps} fps, the policy at {fps}")
    found = ", ".join(f"{name} {h}x{w} @ {f} fps" for name, (h, w, f) in sorted(live.items())) or "no cameras"
    if problems:
        wanted = ", ".join(f"{name} {h}x{w}" for name, (h, w) in sorted(expected.items()))
        return CheckResult(
            "cameras", False, f"{found}: {'; '.join(problems)}",
            f"Give --robot.cameras exactly the policy's cameras ({wanted} @ {fps} fps)",
        )  # fmt: skip
    return CheckResult("cameras", True, found)


def view_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation (-1..1) of two frames reduced to ``VIEW_SIZE``: near 1 for the same view of the same scene
    (``so101 diagnose``'s ``image_correlation`` on the reduced frames)."""
    import cv2

    from so101.inference.diagnose import image_correlation

    a, b = (cv2.resize(np.asarray(x), VIEW_SIZE, interpolation=cv2.INTER_AREA).astype(np.float64) for x in (a, b))
    return image_correlation(a, b)


def check_camera_views(
    live: dict[str, np.ndarray],
    reference: dict[str, list[np.ndarray]],
    min_similarity: float = 0.6,
    arm_at_start: bool = True,
) -> CheckResult:
    """Compare each live frame with the training frames of every camera; name swapped and moved cameras.

    ``arm_at_start``: the arm is within the start-pose tolerance. When it is not, a camera on the arm films another
    view than the training's first frames, which looks like a moved or swapped camera: the fix is then the pose.
    """
    if not reference:
        return CheckResult(
            "camera_views", False, "no training frames to compare with",
            "Pass the training dataset as --training.root",
        )  # fmt: skip
    scores = {
        name: {ref: max(view_similarity(image, frame) for frame in frames) for ref, frames in reference.items()}
        for name, image in live.items()
    }
    problems, fixes, found = [], [], []
    for name, by_reference in sorted(scores.items()):
        best = max(by_reference, key=by_reference.__getitem__)
        own = by_reference.get(name)
        found.append(f"{name} {own:.2f}" if own is not None else f"{name} -")
        if best != name and by_reference[best] >= min_similarity and (own is None or by_reference[best] > own):
            problems.append(f"{name} shows the training's {best} view ({by_reference[best]:.2f} vs {own or 0:.2f})")
            fixes.append(f"give {name} in --robot.cameras the camera that films the {name} view (now the {best} one: "
                         "swapped entries?)")
        elif own is None or own < min_similarity:
            problems.append(f"{name} differs from its training view ({own or 0:.2f} < {min_similarity}): moved?")
            fixes.append(f"put {name} back where it was in training (place and aim)")
    detail = "similarity to training frames: " + ", ".join(found)
    if not problems:
        return CheckResult("camera_views", True, detail)
    if not arm_at_start:
        fix = ("Bring the arm to the training start pose first (see start_pose): a camera on the arm sees the arm's "
               "pose, so the views are compared there; if this check still fails there, " + "; ".join(fixes))
    else:
        fix = "; ".join(fixes)
        fix = fix[0].upper() + fix[1:]
    return CheckResult("camera_views", False, f"{detail}; {'; '.join(problems)}", fix)


def check_task(task: str, tasks: list[str]) -> CheckResult:
    if task in tasks:
        return CheckResult("task", True, f"{task!r} is a training task")
    nearest = difflib.get_close_matches(task, tasks, n=1, cutoff=0.0)
    shown = f"; nearest training task: {nearest[0]!r}" if nearest else ""
    return CheckResult(
        "task", False, f"{task!r} is not a training task{shown}",
        "Give exactly a training task as --dataset.task (language-conditioned policies fail on others)",
    )  # fmt: skip


def check_units(use_degrees: bool, units: Normalization, source: str) -> CheckResult:
    robot: Normalization = "degrees" if use_degrees else "range_m100_100"
    if robot == units:
        return CheckResult("units", True, f"robot in {robot}, training data in {units} ({source})")
    flag = "true" if units == "degrees" else "false"
    return CheckResult(
        "units", False, f"robot in {robot}, training data in {units} ({source})",
        f"Pass --robot.use_degrees {flag}",
    )  # fmt: skip


def nearest_start(pose: np.ndarray, start_states: np.ndarray) -> np.ndarray:
    """The training start state closest to ``pose`` (largest joint difference smallest)."""
    distances = np.abs(start_states - pose).max(axis=1)
    return start_states[int(np.argmin(distances))]


def check_start_pose(
    pose: np.ndarray, start_states: np.ndarray, tolerance_deg: float, move_to_start: bool = False,
    moved: bool = False, dry_run: bool = False,
) -> CheckResult:
    """Whether ``pose`` is within ``tolerance_deg`` (gripper: units) of a training start state on every joint.

    The fix depends on what was asked: ``move_to_start`` (``--move_to_start`` given), ``moved`` (the slow move has
    run, and the arm is still not there), ``dry_run`` (``--move_to_start`` does not move the arm in a dry run).
    """
    nearest = nearest_start(pose, start_states)
    difference = np.abs(nearest - pose)
    joint = int(np.argmax(difference))
    detail = (
        f"{difference[joint]:.1f} from the nearest of {len(start_states)} training start states "
        f"(largest: {JOINT_NAMES[joint]}; tolerance {tolerance_deg:g})"
    )
    if difference[joint] <= tolerance_deg:
        return CheckResult("start_pose", True, detail)
    target = ", ".join(f"{v:.0f}" for v in nearest)
    if moved:
        fix = f"The slow move (--move_to_start) did not bring it there: move the arm by hand near [{target}]"
    elif move_to_start and dry_run:
        fix = f"Move the arm by hand near [{target}] (--move_to_start does not move the arm in a dry run)"
    elif move_to_start:
        fix = f"--move_to_start moves it slowly near [{target}] once cameras, task and units pass"
    else:
        fix = f"Move the arm near [{target}], or pass --move_to_start for a slow bounded move there"
    return CheckResult("start_pose", False, detail, fix)


def check_timing(call_s: float, fps: int, n_action_steps: int, ensemble: bool) -> CheckResult:
    """A call fits when it takes less than a control period; with chunks of ``n_action_steps`` a slower call
    still keeps the average rate (one late tick per chunk) when under ``n_action_steps`` periods."""
    period = 1.0 / fps
    steps = 1 if ensemble else n_action_steps
    settings = "temporal ensembling" if ensemble else f"n_action_steps {n_action_steps}"
    detail = f"policy call {1000 * call_s:.1f} ms, control period {1000 * period:.1f} ms, {settings}"
    if call_s <= period:
        return CheckResult("timing", True, detail)
    if call_s <= steps * period:
        return CheckResult("timing", True, f"{detail}: one late tick per chunk")
    return CheckResult(
        "timing", False, f"{detail}: the loop cannot hold {fps} Hz",
        "Use a GPU (--policy.device cuda), or a larger --policy.n_action_steps without temporal ensembling",
    )  # fmt: skip


def conclude(results: list[CheckResult], allow: set[str]) -> None:
    """Raise ``PreflightError`` naming each failed check not in ``allow`` with its own fix, and the flag that
    overrides them."""
    refused = [result for result in results if not result.ok and result.name not in allow]
    if refused:
        causes = " ".join(f"({n}) {result.name}: {result.detail}. Fix: {result.fix}." for n, result in
                          enumerate(refused, 1))
        names = ",".join(result.name for result in refused)
        raise PreflightError(
            f"preflight refused {len(refused)} check(s): {causes} To run anyway: --allow {names}",
            checks=[result.name for result in refused],
        )
