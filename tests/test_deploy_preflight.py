"""The preflight checks of ``so101 deploy`` (``so101.inference.deploy_preflight``), each on its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from so101.errors import PreflightError
from so101.inference.deploy_preflight import (
    TrainingReference,
    check_camera_views,
    check_cameras,
    check_start_pose,
    check_task,
    check_timing,
    check_units,
    conclude,
    view_similarity,
)
from so101.sim.simulator import START_POSE
from so101.sim.task_signals import TASK


@pytest.fixture(scope="module")
def frames() -> dict[str, list[np.ndarray]]:
    """Frames of the three scene cameras in three scenes (seeds 0, 1, 2), arm at its start pose, 96x128."""
    from so101.sim.rendering import CameraRenderer
    from so101.sim.scene import CameraConfig
    from so101.sim.simulator import So101Sim

    sim = So101Sim()
    cameras = [CameraConfig(name, 128, 96) for name in ("overhead_cam", "wrist_cam", "front_cam")]
    with CameraRenderer(sim.model, cameras) as renderer:
        found: dict[str, list[np.ndarray]] = {}
        for seed in (0, 1, 2):
            sim.reset(seed)
            for name, image in renderer.render(sim.data).items():
                found.setdefault(name, []).append(image)
    return found


def test_cameras_must_equal_the_policys_none_missing_none_extra() -> None:
    expected = {"overhead_cam": (96, 128), "wrist_cam": (96, 128)}
    same = {"overhead_cam": (96, 128, 30), "wrist_cam": (96, 128, 30)}
    assert check_cameras(same, expected, 30).ok
    # LeRobot 0.4.4 accepts a robot camera set that contains the policy's; the preflight does not.
    extra = check_cameras({**same, "front_cam": (96, 128, 30)}, expected, 30)
    assert not extra.ok and "extra front_cam" in extra.detail
    missing = check_cameras({"overhead_cam": (96, 128, 30)}, expected, 30)
    assert not missing.ok and "missing wrist_cam" in missing.detail and "--robot.cameras" in missing.fix
    size = check_cameras({**same, "wrist_cam": (480, 640, 30)}, expected, 30)
    assert not size.ok and "wrist_cam is 480x640, trained at 96x128" in size.detail
    rate = check_cameras({**same, "wrist_cam": (96, 128, 15)}, expected, 30)
    assert not rate.ok and "wrist_cam runs at 15 fps" in rate.detail


def test_views_pass_in_another_scene_and_swapped_cameras_are_named(frames) -> None:
    reference = {name: frames[name][:2] for name in ("overhead_cam", "wrist_cam")}
    live = {"overhead_cam": frames["overhead_cam"][2], "wrist_cam": frames["wrist_cam"][2]}
    assert check_camera_views(live, reference).ok
    assert view_similarity(live["overhead_cam"], reference["overhead_cam"][0]) > 0.8
    swapped = check_camera_views({"overhead_cam": live["wrist_cam"], "wrist_cam": live["overhead_cam"]}, reference)
    assert not swapped.ok
    assert "overhead_cam shows the training's wrist_cam view" in swapped.detail
    assert "wrist_cam shows the training's overhead_cam view" in swapped.detail
    assert swapped.fix.startswith("Give overhead_cam in --robot.cameras the camera that films the overhead_cam view")
    moved = check_camera_views({**live, "overhead_cam": frames["front_cam"][2]}, reference, min_similarity=0.9)
    assert not moved.ok and "overhead_cam" in moved.detail and "wrist_cam shows" not in moved.detail
    assert moved.fix == "Put overhead_cam back where it was in training (place and aim)"
    # With the arm away from its start pose the views differ because of the pose: the fix is the pose, not a swap.
    away = check_camera_views({"overhead_cam": live["wrist_cam"], "wrist_cam": live["overhead_cam"]}, reference,
                              arm_at_start=False)
    assert not away.ok and away.fix.startswith("Bring the arm to the training start pose first")
    assert not check_camera_views(live, {}).ok


def test_the_task_must_equal_a_training_task_and_the_nearest_is_shown() -> None:
    tasks = [TASK, "Stack the bricks."]
    assert check_task(TASK, tasks).ok
    result = check_task("Pick up the Duplo brick and place it in the bowl", tasks)  # no final period
    assert not result.ok and f"nearest training task: {TASK!r}" in result.detail


def test_units_must_be_those_of_the_training_data() -> None:
    assert check_units(True, "degrees", "recorded by the workbench").ok
    result = check_units(False, "degrees", "recorded by the workbench")
    assert not result.ok and "robot in range_m100_100, training data in degrees" in result.detail
    assert "--robot.use_degrees true" in result.fix


def test_the_start_pose_must_be_near_a_training_start_state() -> None:
    starts = np.stack([START_POSE, START_POSE + 5.0])
    assert check_start_pose(START_POSE + 3.0, starts, 15.0).ok
    far = START_POSE + np.array([0.0, 40.0, 0.0, 0.0, 0.0, 0.0])
    result = check_start_pose(far, starts, 15.0)
    assert not result.ok and "largest: shoulder_lift" in result.detail and "--move_to_start" in result.fix
    # With --move_to_start given the fix never offers it again.
    assert "or pass --move_to_start" not in check_start_pose(far, starts, 15.0, move_to_start=True).fix
    assert "does not move the arm in a dry run" in check_start_pose(far, starts, 15.0, True, dry_run=True).fix
    assert "did not bring it there" in check_start_pose(far, starts, 15.0, True, moved=True).fix


def test_inference_time_must_fit_the_control_period_with_the_chunk_settings() -> None:
    assert check_timing(0.02, 30, 100, False).ok
    marginal = check_timing(0.2, 30, 100, False)
    assert marginal.ok and "one late tick per chunk" in marginal.detail
    assert not check_timing(0.2, 30, 1, True).ok  # temporal ensembling calls the policy every step
    assert not check_timing(0.2, 30, 5, False).ok


def test_a_failed_check_refuses_unless_allowed() -> None:
    results = [check_task("other", [TASK]), check_units(True, "degrees", "x")]
    with pytest.raises(PreflightError, match="--allow task") as refused:
        conclude(results, set())
    assert refused.value.checks == ["task"]
    conclude(results, {"task"})
    assert "ALLOWED" in results[0].line(allowed=True) and "FAIL" in results[0].line()
    # Every refused check is named with its own fix, in order.
    far = check_start_pose(START_POSE + 40.0, START_POSE[None], 15.0)
    two = [check_task("other", [TASK]), far]
    with pytest.raises(PreflightError) as refused:
        conclude(two, set())
    message = str(refused.value)
    assert message.startswith("preflight refused 2 check(s): (1) task: ")
    assert f"Fix: {two[0].fix}. (2) start_pose: " in message
    assert f"Fix: {far.fix}. To run anyway: --allow task,start_pose" in message


def test_the_training_reference_reads_tasks_start_states_units_and_frames(tiny_dataset: Path) -> None:
    reference = TrainingReference.load(tiny_dataset, ["overhead_cam", "wrist_cam"], episodes=2)
    assert reference.tasks == [TASK] and reference.units == "degrees"
    assert reference.start_states.shape == (4, 6)
    assert np.allclose(reference.start_states, START_POSE, atol=0.1)
    assert [len(reference.frames[name]) for name in ("overhead_cam", "wrist_cam")] == [2, 2]
    assert reference.frames["overhead_cam"][0].shape == (96, 128, 3)
    assert reference.frames["overhead_cam"][0].dtype == np.uint8
