"""The report of ``so101 diagnose``: ``report.md`` with its flags, tables and PNG plots (matplotlib, Agg).

Files written into the output folder:

* ``report.md``: verdict, flags (check, subject, measured, threshold, what to check), per-joint tables of state
  and action (mean and 5/50/95th percentiles), gripper-closed fractions, action jumps, start-state z-scores,
  camera statistics and the camera correlation matrix;
* ``joints.png``: per-joint histograms of action, training against evaluation;
* ``jumps.png``: per-joint 99th percentile of frame-to-frame action changes;
* ``start_states.png``: each evaluation episode's start-state z-scores per joint;
* ``cameras.png``: each camera's mean image, training above evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from so101.kinematics.units import GRIPPER_INDEX, JOINT_NAMES

if TYPE_CHECKING:
    from so101.inference.diagnose import DatasetSummary, Flag


def write_report(train: DatasetSummary, evaluation: DatasetSummary, flags: list[Flag], output: Path) -> Path:
    """Write ``report.md`` and its plots into ``output`` (created when missing); returns the report's path."""
    from so101.inference import diagnose as d

    output.mkdir(parents=True, exist_ok=True)
    _plots(train, evaluation, output)
    lines = [
        "# so101 diagnose",
        "",
        f"- training: `{train.root}` ({len(train.episode_ends)} episodes, {len(train.states)} frames, {train.fps} fps)",
        f"- evaluation: `{evaluation.root}` ({len(evaluation.episode_ends)} episodes, {len(evaluation.states)} "
        f"frames, {evaluation.fps} fps)",
        "",
        f"**{len(flags)} difference(s) flagged.**" if flags else "**No difference beyond the thresholds.**",
        "",
    ]
    if flags:
        lines += ["| check | subject | measured | threshold | what to check |", "|---|---|---|---|---|"]
        lines += [f"| {f.check} | {f.subject} | {f.measured} | {f.threshold} | {f.advice} |" for f in flags]
        lines.append("")
    for key, a, b in (("action", train.actions, evaluation.actions), ("observation.state", train.states,
                                                                       evaluation.states)):
        lines += [f"## {key} per joint (dataset units)", "", _joint_table(a, b), ""]
    lines.append("![action histograms](joints.png)")
    closed = [float(np.mean(s.actions[:, GRIPPER_INDEX] < d.GRIPPER_CLOSED)) for s in (train, evaluation)]
    p99 = [np.percentile(s.jumps(), 99, axis=0) if len(s.jumps()) else np.zeros(6) for s in (train, evaluation)]
    peak = [s.jumps().max(axis=0) if len(s.jumps()) else np.zeros(6) for s in (train, evaluation)]
    lines += [
        "",
        "## Gripper",
        "",
        f"Closed (action < {d.GRIPPER_CLOSED:g}): training {closed[0]:.0%}, evaluation {closed[1]:.0%} "
        f"(flagged beyond a gap of {d.GRIPPER_FRACTION_GAP:.0%}).",
        "",
        "## Frame-to-frame action jumps (|a[t+1] - a[t]|, dataset units)",
        "",
        "| joint | training p99 | evaluation p99 | training max | evaluation max |",
        "|---|---|---|---|---|",
        *(
            f"| {name} | {p99[0][j]:.2f} | {p99[1][j]:.2f} | {peak[0][j]:.2f} | {peak[1][j]:.2f} |"
            for j, name in enumerate(JOINT_NAMES)
        ),
        "",
        f"Flagged when the evaluation's p99 or max exceeds {d.JUMP_RATIO:g}x the training's (and {d.MIN_SPREAD:g}).",
        "",
        "![jumps](jumps.png)",
        "",
        "## Start states",
        "",
        _start_table(d.start_z_scores(train, evaluation)),
        "",
        f"z-scores against the training episodes' first states; flagged beyond |z| > {d.START_Z:g}.",
        "",
        "![start states](start_states.png)",
        "",
    ]
    lines += _camera_section(train, evaluation)
    path = output / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _joint_table(a: np.ndarray, b: np.ndarray) -> str:
    rows = ["| joint | training mean | p5 / p50 / p95 | evaluation mean | p5 / p50 / p95 |", "|---|---|---|---|---|"]
    for j, name in enumerate(JOINT_NAMES):
        cells = []
        for values in (a[:, j], b[:, j]):
            p5, p50, p95 = np.percentile(values, [5, 50, 95])
            cells += [f"{values.mean():.1f}", f"{p5:.1f} / {p50:.1f} / {p95:.1f}"]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _start_table(z: np.ndarray) -> str:
    rows = ["| episode | " + " | ".join(JOINT_NAMES) + " |", "|---" * (len(JOINT_NAMES) + 1) + "|"]
    rows += [f"| {e} | " + " | ".join(f"{v:+.1f}" for v in z[e]) + " |" for e in range(min(len(z), 20))]
    if len(z) > 20:
        rows.append(f"| ... {len(z) - 20} more | " + " | " * (len(JOINT_NAMES) - 1) + " |")
    return "\n".join(rows)


def _camera_section(train: DatasetSummary, evaluation: DatasetSummary) -> list[str]:
    from so101.inference import diagnose as d

    if not train.mean_images or not evaluation.mean_images:
        return ["## Cameras", "", "One of the datasets has no camera."]
    correlations = d.camera_correlations(train, evaluation)
    lines = ["## Cameras", "", "| camera | training brightness / RGB | evaluation brightness / RGB |", "|---|---|---|"]
    for camera in sorted(set(train.mean_images) | set(evaluation.mean_images)):
        cells = []
        for summary in (train, evaluation):
            image = summary.mean_images.get(camera)
            rgb = None if image is None else image.mean(axis=(0, 1)).round().astype(int).tolist()
            cells.append("-" if image is None else f"{image.mean():.0f} / {rgb}")
        lines.append(f"| {camera} | {cells[0]} | {cells[1]} |")
    trained = sorted(train.mean_images)
    lines += [
        "",
        f"Correlation of mean images (rows: evaluation, columns: training; {d.IMAGE_SIDE}x{d.IMAGE_SIDE} means of "
        f"sampled frames). A camera is flagged as swapped when another training camera beats its namesake by "
        f"{d.SWAP_MARGIN:g}, as moved below {d.VIEW_CORRELATION:g}; brightness or colour beyond "
        f"{d.BRIGHTNESS_GAP:g} of 255.",
        "",
        "| evaluation \\ training | " + " | ".join(trained) + " |",
        "|---" * (len(trained) + 1) + "|",
    ]
    for camera in sorted(evaluation.mean_images):
        lines.append(f"| {camera} | " + " | ".join(f"{correlations[(camera, t)]:.2f}" for t in trained) + " |")
    return [*lines, "", "![cameras](cameras.png)"]


def _plots(train: DatasetSummary, evaluation: DatasetSummary, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from so101.inference import diagnose as d

    figure, axes = plt.subplots(2, 3, figsize=(12, 6))
    for j, axis in enumerate(axes.ravel()):
        both = np.concatenate([train.actions[:, j], evaluation.actions[:, j]])
        bins = np.linspace(both.min() - 1e-6, both.max() + 1e-6, 40)
        axis.hist(train.actions[:, j], bins=bins, alpha=0.5, density=True, label="training")
        axis.hist(evaluation.actions[:, j], bins=bins, alpha=0.5, density=True, label="evaluation")
        axis.set_title(f"action: {JOINT_NAMES[j]}")
    axes[0, 0].legend()
    figure.tight_layout()
    figure.savefig(output / "joints.png", dpi=80)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(8, 3.5))
    x = np.arange(6)
    for offset, summary, label in ((-0.2, train, "training"), (0.2, evaluation, "evaluation")):
        jumps = summary.jumps()
        axis.bar(x + offset, np.percentile(jumps, 99, axis=0) if len(jumps) else np.zeros(6), 0.4, label=label)
    axis.set_xticks(x, JOINT_NAMES)
    axis.set_ylabel("p99 |a[t+1] - a[t]|")
    axis.legend()
    figure.tight_layout()
    figure.savefig(output / "jumps.png", dpi=80)
    plt.close(figure)

    z = d.start_z_scores(train, evaluation)
    figure, axis = plt.subplots(figsize=(8, 3.5))
    for e in range(len(z)):
        axis.plot(x, z[e], "o-", alpha=0.6)
    axis.axhspan(-d.START_Z, d.START_Z, color="green", alpha=0.1)
    axis.set_xticks(x, JOINT_NAMES)
    axis.set_ylabel("start-state z-score")
    figure.tight_layout()
    figure.savefig(output / "start_states.png", dpi=80)
    plt.close(figure)

    cameras = sorted(set(train.mean_images) | set(evaluation.mean_images))
    if cameras:
        figure, axes = plt.subplots(2, len(cameras), figsize=(3 * len(cameras), 6), squeeze=False)
        for column, camera in enumerate(cameras):
            for row, summary in enumerate((train, evaluation)):
                axis = axes[row, column]
                axis.axis("off")
                image = summary.mean_images.get(camera)
                if image is not None:
                    axis.imshow(np.clip(image / 255.0, 0, 1))
                axis.set_title(f"{'training' if row == 0 else 'evaluation'}: {camera}", fontsize=9)
        figure.tight_layout()
        figure.savefig(output / "cameras.png", dpi=80)
        plt.close(figure)
