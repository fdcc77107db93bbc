"""``so101 diagnose``: two recordings of the scripted expert pass; a shifted gripper and swapped cameras are flagged.

The altered copies of the recorded fixture are made with the workbench's own tools: exported to HDF5, changed there,
and imported back through the recording writer.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from so101.inference.diagnose import DatasetSummary, compare, main
from so101.recording.hdf5_export import main as export_main
from so101.recording.hdf5_import import main as import_main
from so101.sim.options import CameraOptions


@pytest.fixture(scope="module")
def exported(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("diagnose") / "hdf5"
    assert export_main(["--dataset.root", str(tiny_dataset), "--output", str(output)]) == 0
    return output


@pytest.fixture(scope="module")
def other_seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny fixture's recording again (scripted expert, 4 episodes of 40 frames), from other scene seeds."""
    from so101.recording.dataset_writer import DatasetConfig
    from so101.recording.record import RecordConfig, record

    root = tmp_path_factory.mktemp("diagnose") / "other_seeds"
    config = RecordConfig(
        episodes=4,
        seed=100,
        dataset=DatasetConfig(repo_id="test/other_seeds", root=root),
        keep_failed=True,
        episode_time_s=40 / 30,
        cameras=CameraOptions(width=128, height=96),
    )
    assert record(config).total_episodes == 4
    return root


def altered_copy(exported: Path, folder: Path, alter: Callable[[h5py.File], None]) -> Path:
    files = shutil.copytree(exported, folder / "hdf5")
    for path in files.iterdir():
        with h5py.File(path, "a") as file:
            alter(file)
    root = folder / "dataset"
    assert import_main(["--input", str(files), "--dataset.root", str(root)]) == 0
    return root


def shift_gripper(file: h5py.File) -> None:
    file["action"][:, 5] = np.clip(file["action"][:, 5] + 30.0, 0.0, 100.0)


def swap_cameras(file: h5py.File) -> None:
    images = file["observations/images"]
    images.move("overhead_cam", "swap")
    images.move("wrist_cam", "overhead_cam")
    images.move("swap", "wrist_cam")


def run(train: Path, evaluation: Path, output: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["--train.root", str(train), "--eval.root", str(evaluation), "--output", str(output)])
    return status, capsys.readouterr().out, (output / "report.md").read_text()


def test_two_recordings_of_the_expert_match(
    tiny_dataset: Path, other_seeds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, report = run(tiny_dataset, other_seeds, tmp_path / "report", capsys)
    assert status == 0, out
    assert "No difference beyond the thresholds" in report and "FLAG" not in out
    for plot in ("joints.png", "jumps.png", "start_states.png", "cameras.png"):
        assert (tmp_path / "report" / plot).stat().st_size > 1000
        assert f"({plot})" in report


def test_a_shifted_gripper_is_flagged_and_nothing_else(
    tiny_dataset: Path, exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shifted = altered_copy(exported, tmp_path, shift_gripper)
    status, out, report = run(tiny_dataset, shifted, tmp_path / "report", capsys)
    assert status == 1
    flagged = [line for line in out.splitlines() if line.startswith("FLAG")]
    assert flagged and all("gripper" in line for line in flagged), out
    assert any(line.startswith("FLAG action distribution [gripper]") for line in flagged), out
    assert "| action distribution | gripper |" in report and "gripper calibration" in report


def test_swapped_cameras_are_named(
    tiny_dataset: Path, exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    swapped = altered_copy(exported, tmp_path, swap_cameras)
    status, out, report = run(tiny_dataset, swapped, tmp_path / "report", capsys)
    assert status == 1
    assert "FLAG camera swapped [overhead_cam]: looks like training's wrist_cam" in out, out
    assert "FLAG camera swapped [wrist_cam]: looks like training's overhead_cam" in out, out
    assert out.count("FLAG") == 2, out
    assert "probably swapped" in report


def small_recording(root: Path, seed: int) -> Path:
    """Two 2-second episodes of the scripted expert from scene seeds ``seed`` and ``seed + 1``."""
    from so101.recording.dataset_writer import DatasetConfig
    from so101.recording.record import RecordConfig, record

    config = RecordConfig(
        episodes=2, seed=seed, dataset=DatasetConfig(repo_id="test/small", root=root), keep_failed=True,
        episode_time_s=2.0, cameras=CameraOptions(width=64, height=48),
    )  # fmt: skip
    assert record(config).total_episodes == 2
    return root


def test_small_recordings_of_one_task_differ_by_their_scenes_without_a_flag_and_a_real_shift_is_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Seeds 4-5 and 8-9: the brick's yaw sets wrist_roll, and the two pairs' means lie 3 spreads of the frames apart
    # (flagged when the frames were counted as samples); with two episodes a side that is well within the interval.
    first, second = small_recording(tmp_path / "first", 4), small_recording(tmp_path / "second", 8)
    status, out, _report = run(first, second, tmp_path / "same", capsys)
    assert status == 0 and "FLAG" not in out, out
    # The second recording again on a gripper calibrated 30 units off: flagged from two episodes.
    exported = tmp_path / "hdf5"
    assert export_main(["--dataset.root", str(second), "--output", str(exported)]) == 0

    def gripper_off(file: h5py.File) -> None:
        for key in ("action", "observations/qpos"):
            file[key][:, 5] = file[key][:, 5] + 30.0

    shifted = altered_copy(exported, tmp_path / "shifted", gripper_off)
    status, out, _report = run(first, shifted, tmp_path / "shifted_report", capsys)
    assert status == 1
    assert "FLAG state distribution [gripper]" in out and "FLAG action distribution [gripper]" in out, out
    assert "over 2 and 2 episodes" in out


def test_the_interval_of_a_shift_narrows_with_episodes() -> None:
    from so101.inference.diagnose import shift_interval

    rng = np.random.default_rng(1)
    means = rng.normal(0.0, 10.0, (200, 6))
    _, few = shift_interval(means[:2], means[2:4])
    _, many = shift_interval(means[:100], means[100:])
    assert np.all(many < 3.5) and np.all(few > many)  # 1.97 * 10 * sqrt(2 / 100) = 2.8 for 100 a side
    _, single = shift_interval(means[:1], means[1:2])
    assert np.all(np.isinf(single))  # one episode a side: nothing is known of the spread between episodes


def summary(actions: np.ndarray, episode_ends: list[int], **fields) -> DatasetSummary:
    image = np.linspace(0, 255, 32 * 32 * 3).reshape(32, 32, 3)
    values = {"fps": 30, "tasks": ["pick"], "mean_images": {"overhead_cam": image}, **fields}
    ends = np.array(episode_ends)
    return DatasetSummary("d", Path("d"), states=actions, actions=actions, episode_ends=ends, **values)


def test_jumps_start_states_task_fps_and_brightness_are_flagged() -> None:
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.normal(0, 0.3, (200, 6)), axis=0)
    train = summary(smooth, [100, 200])
    assert compare(train, summary(smooth.copy(), [100, 200])) == []
    jumpy = smooth.copy()
    jumpy[50:, 1] += 15.0  # a 15-unit step in the middle of episode 0, as at a chunk boundary
    darker = {"overhead_cam": train.mean_images["overhead_cam"] * 0.6}
    flags = compare(train, summary(jumpy, [100, 200], fps=15, tasks=["pick it"], mean_images=darker))
    checks = {(flag.check, flag.subject) for flag in flags}
    assert ("frame-to-frame jumps", "shoulder_lift") in checks
    assert ("fps", "dataset") in checks and ("task string", "task") in checks
    assert ("camera brightness", "overhead_cam") in checks
    far = smooth.copy()
    far[100] += 40.0  # episode 1 starts 40 units away on every joint
    start_flags = [flag for flag in compare(train, summary(far, [100, 200])) if flag.check == "start state"]
    assert len(start_flags) == 1 and "episodes [1]" in start_flags[0].measured


def test_a_damaged_dataset_is_named_by_its_option(tiny_dataset: Path, tmp_path: Path, capsys) -> None:
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_dataset, damaged)
    (damaged / "meta" / "info.json").write_text("{ not json")
    assert main(["--train.root", str(tiny_dataset), "--eval.root", str(damaged), "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--eval.root" in err and "meta/info.json is not valid JSON" in err
