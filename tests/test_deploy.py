"""``so101 deploy`` end to end on the follower rig: LeRobot's own ``SO101Follower`` on the emulated servos (a real
pseudo-terminal) with the simulated LeRobot cameras, a small untrained ACT checkpoint whose training dataset is
the tiny recorded one. The checks and the safety layer are tested one by one in test_deploy_preflight.py and
test_deploy_safety.py; here the command runs a few times as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from so101.cli import main
from so101.inference.benchmark import write_untrained_checkpoint
from so101.policies.act import ActPolicyConfig
from so101.sim.simulator import START_POSE
from so101.teleop.emulate_cmd import sim_cameras
from so101.teleop.feetech.follower_rig import FollowerRig

TINY = ActPolicyConfig(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_vae_encoder_layers=1,
                       chunk_size=10, n_action_steps=10, image_height=48, image_width=64, pretrained_backbone=False,
                       device="cpu")  # fmt: skip
ARM_ID = "rig_follower"
REPO_ROOT = Path(__file__).resolve().parents[1]
RELEASED = "follower released: torque off, read back from all 6 servos"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Path) -> Path:
    """An untrained ACT on the tiny dataset's cameras (96x128), which records that dataset as its training data."""
    directory = write_untrained_checkpoint(tmp_path_factory.mktemp("ckpt") / "pretrained_model", TINY, (96, 128))
    sidecar = directory / "so101.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "dataset": str(tiny_dataset)}))
    return directory


@pytest.fixture
def rig(tmp_path: Path):
    with FollowerRig(tmp_path / "calibration", ARM_ID, tmp_path / "pose", START_POSE) as rig:
        yield rig


def deploy_argv(rig: FollowerRig, checkpoint: Path, tmp_path: Path, *extra: str, cameras: str | None = None) -> list:
    """``so101 deploy`` on the rig, 0.3 s episodes (9 steps): its arguments after ``so101``."""
    cameras = cameras or sim_cameras(rig.pose_feed, 128, 96, 0)
    return [
        "deploy", "--policy.path", str(checkpoint), "--policy.device", "cpu",
        "--robot.port", rig.port, "--robot.id", ARM_ID, "--robot.calibration_dir", str(tmp_path / "calibration"),
        "--robot.cameras", cameras, "--episode_time_s", "0.3", "--warmup_calls", "2",
        "--dataset.root", str(tmp_path / "deployed"), "--dataset.repo_id", "test/deployed", *extra,
    ]  # fmt: skip


def deploy(rig: FollowerRig, checkpoint: Path, tmp_path: Path, *extra: str, cameras: str | None = None) -> int:
    """``so101 deploy`` on the rig, in this process."""
    return main(deploy_argv(rig, checkpoint, tmp_path, *extra, cameras=cameras))


def deploy_signalled(rig: FollowerRig, checkpoint: Path, tmp_path: Path, at: str, number: int, *extra: str):
    """``python -m so101 deploy`` on the rig in its own process, sent signal ``number`` once a line of its output
    contains ``at``; returns its exit status and its output lines (stdout and stderr)."""
    process = subprocess.Popen(
        # A generous watchdog: what is tested here is the signal's path, not the loop's speed on a loaded machine.
        [sys.executable, "-m", "so101",
         *deploy_argv(rig, checkpoint, tmp_path, "--allow", "timing", "--safety.watchdog_s", "5", *extra)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if at in line:
                process.send_signal(number)
                break
        lines += process.communicate(timeout=120)[0].splitlines()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, lines


def released(rig: FollowerRig) -> bool:
    return not any(rig.torque_enabled())


def test_a_matching_set_up_passes_preflight_runs_and_records_a_valid_dataset(rig, checkpoint, tmp_path, capsys):
    status = deploy(rig, checkpoint, tmp_path, "--allow", "timing", "--episodes", "2", "--reset_time_s", "0")
    out = capsys.readouterr().out
    assert status == 0, out
    for check in ("cameras", "camera_views", "task", "units", "start_pose"):
        assert any(line.startswith(f"  [  ok   ] {check} ") for line in out.splitlines()), (check, out)
    assert "episode 2/2 saved as episode 1 (deployed)" in out and out.strip().splitlines()[-1] == RELEASED
    assert released(rig)
    assert not np.allclose(rig.positions(), START_POSE, atol=0.5), "the policy's targets moved the servos"

    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset("test/deployed", root=tmp_path / "deployed")
    assert dataset.meta.total_episodes == 2 and dataset.meta.total_frames == 18
    assert {"action", "policy.action", "observation.state", "observation.images.wrist_cam"} <= set(dataset.features)
    # LeRobot's own classification (what lerobot-train builds a policy from): the sent action is the one output, the
    # state and the cameras the inputs; the raw policy action is neither.
    from lerobot.configs.types import FeatureType
    from lerobot.datasets.utils import dataset_to_policy_features

    policy_features = dataset_to_policy_features(dataset.meta.features)
    assert set(policy_features) == {"action", "observation.state", *dataset.meta.camera_keys}
    assert [k for k, f in policy_features.items() if f.type is FeatureType.ACTION] == ["action"]
    sent = np.stack([dataset[i]["action"].numpy() for i in range(9)])
    raw = np.stack([dataset[i]["policy.action"].numpy() for i in range(9)])
    state = dataset[0]["observation.state"].numpy()
    # The ramp: the sent targets creep from the measured pose, 1 degree a step, while the raw actions jump.
    assert np.abs(sent[0, :5] - state[:5]).max() <= 1.0 + 1e-4 < np.abs(raw[0, :5] - state[:5]).max()
    assert np.abs(np.diff(sent[:, :5], axis=0)).max() <= 1.0 + 1e-4
    session = json.loads((tmp_path / "deployed" / "meta" / "so101" / "recording.json").read_text())["sessions"][0]
    assert session["source"] == "deploy" and len(session["preflight"]) == 6
    # so101 dataset validate checks it as a deployment: the extra feature expected, no scenes to re-simulate.
    from so101.recording.dataset_tools import unchecked, validate

    assert validate(tmp_path / "deployed", "test/deployed") == []
    assert "deployed on the real arm" in unchecked(tmp_path / "deployed")[0]
    # Each saved episode has its line in meta/so101/episodes.jsonl, without a scene; info counts them.
    from so101.recording.dataset_tools import info
    from so101.recording.replay import main as replay_main

    lines = (tmp_path / "deployed" / "meta" / "so101" / "episodes.jsonl").read_text().splitlines()
    assert [json.loads(line)["outcome"] for line in lines] == ["deployed", "deployed"]
    assert [json.loads(line)["placement"] for line in lines] == [None, None]
    summary = info(tmp_path / "deployed")
    assert "source deploy, 2 episode(s)" in summary and "outcomes   deployed 2" in summary
    # Replaying them names the cause (no scene: deployed), not an edit of the dataset.
    capsys.readouterr()
    assert replay_main(["--dataset.root", str(tmp_path / "deployed"), "--all"]) == 2
    err = capsys.readouterr().err
    assert "no simulator scene" in err and "deployed on the real arm" in err and "lerobot-edit-dataset" not in err


def swapped(feed: Path) -> str:
    return sim_cameras(feed, 128, 96, 0).replace("scene_camera: overhead_cam", "scene_camera: TMP").replace(
        "scene_camera: wrist_cam", "scene_camera: overhead_cam").replace("scene_camera: TMP", "scene_camera: wrist_cam")


REFUSALS = {
    "swapped cameras": ([], swapped, "overhead_cam shows the training's wrist_cam view"),
    "another task": (["--dataset.task", "Pick up the brick."], None, "task: 'Pick up the brick.' is not a training"),
    "other units": (["--robot.use_degrees", "false"], None, "units: robot in range_m100_100, training data in degrees"),
    "missing camera": ([], lambda feed: sim_cameras(feed, 128, 96, 0).split(", wrist_cam")[0] + "}",
                       "cameras: overhead_cam 96x128 @ 30 fps: missing wrist_cam"),
    "far start pose": (["--allow", "timing"], None, "start_pose: 40.0 from the nearest"),
}


@pytest.mark.parametrize("case", REFUSALS, ids=str)
def test_preflight_refuses_naming_the_cause_before_any_motion(case, rig, checkpoint, tmp_path, capsys):
    extra, cameras, cause = REFUSALS[case]
    if case == "far start pose":
        rig.place(START_POSE + np.array([0.0, 40.0, 0.0, 0.0, 0.0, 0.0]))
    before = rig.positions()
    status = deploy(rig, checkpoint, tmp_path, *extra, cameras=cameras(rig.pose_feed) if cameras else None)
    err = capsys.readouterr().err
    assert status == 2 and cause in err and "To run anyway: --allow" in err, err
    assert len(err.strip().splitlines()) == 1
    assert released(rig) and np.allclose(rig.positions(), before, atol=0.2)
    assert not (tmp_path / "deployed").exists()


def test_a_refusal_names_every_check_with_its_own_fix_and_never_offers_a_given_move_to_start(
    rig, checkpoint, tmp_path, capsys
):
    # Other units refuse before the move: the start pose's line says the move comes next, not to pass the flag.
    rig.place(START_POSE + np.array([0.0, 40.0, 0.0, 0.0, 0.0, 0.0]))
    status = deploy(rig, checkpoint, tmp_path, "--robot.use_degrees", "false", "--dataset.task", "Pick.",
                    "--move_to_start")
    captured = capsys.readouterr()
    assert status == 2 and "or pass --move_to_start" not in captured.out + captured.err
    assert "--move_to_start moves it slowly near" in captured.out
    err = captured.err
    assert "refused 2 check(s): (1) task: " in err and "Fix: Give exactly a training task" in err
    assert "(2) units: " in err and "Fix: Pass --robot.use_degrees true" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "deployed").exists()


def test_move_to_start_brings_a_far_arm_to_the_training_start_pose(rig, checkpoint, tmp_path, capsys):
    rig.place(START_POSE + np.array([20.0, 0.0, 0.0, 0.0, 0.0, 0.0]))
    status = deploy(rig, checkpoint, tmp_path, "--allow", "timing", "--move_to_start", "--episode_time_s", "0.1")
    out = capsys.readouterr().out
    assert status == 0 and "moving slowly to the training start pose" in out, out
    assert "[ALLOWED] start_pose" not in out  # offered, not overridden
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    first = LeRobotDataset("test/deployed", root=tmp_path / "deployed")[0]["observation.state"].numpy()
    assert abs(first[0] - START_POSE[0]) <= 2.0


def once_running(tmp_path: Path, action) -> None:
    """Run ``action`` in a thread half a second after the run has started: its dataset's work folder exists (the
    dataset folder itself appears with the first saved episode)."""
    from so101.recording.durable_root import work_dir

    def wait_then_act() -> None:
        deadline = time.monotonic() + 120
        while not work_dir(tmp_path / "deployed").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        action()

    threading.Thread(target=wait_then_act, daemon=True).start()


def test_the_emergency_stop_file_stops_the_run_saves_it_and_releases_torque(rig, checkpoint, tmp_path, capsys):
    stop_file = tmp_path / "STOP"
    once_running(tmp_path, stop_file.touch)
    status = deploy(rig, checkpoint, tmp_path, "--allow", "timing", "--episode_time_s", "20", "--stop_file",
                    str(stop_file))  # fmt: skip
    out = capsys.readouterr().out
    assert status == 1 and f"stopped: emergency stop: {stop_file} appeared" in out, out
    assert "(stopped: emergency stop" in out and released(rig)


def test_the_watchdog_stops_a_run_whose_observations_stall(rig, checkpoint, tmp_path, capsys):
    once_running(tmp_path, lambda: rig.emulator.delay_next_answers(1, 0.6))
    status = deploy(rig, checkpoint, tmp_path, "--allow", "timing", "--episode_time_s", "20")
    out = capsys.readouterr().out
    assert status == 1 and "stopped: watchdog" in out, out
    assert released(rig)


@pytest.mark.parametrize("fault", [KeyboardInterrupt, RuntimeError])
def test_torque_is_released_on_ctrl_c_and_on_an_exception_inside_the_policy(
    fault, rig, checkpoint, tmp_path, monkeypatch, capsys
):
    from so101.inference.policy_runner import PolicyRunner

    act, calls = PolicyRunner.act, []

    def failing(self, state, images=None):
        calls.append(1)
        if len(calls) == 4:  # two warm-up calls, then the second step of the episode
            raise fault("inside the policy")
        return act(self, state, images)

    monkeypatch.setattr(PolicyRunner, "act", failing)
    if fault is KeyboardInterrupt:
        assert deploy(rig, checkpoint, tmp_path, "--allow", "timing") == 130
    else:
        with pytest.raises(RuntimeError, match="inside the policy"):
            deploy(rig, checkpoint, tmp_path, "--allow", "timing")
    assert RELEASED in capsys.readouterr().out
    assert released(rig)


def test_a_dry_run_moves_only_the_simulated_arm(rig, checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    before = rig.positions()
    status = deploy(rig, checkpoint, tmp_path, "--allow", "timing", "--dry_run")
    assert status == 0, capsys.readouterr().out
    assert np.allclose(rig.positions(), before, atol=0.2) and released(rig)
    assert (tmp_path / "deployed_dry_run" / "episode_000.mp4").stat().st_size > 0


def test_a_missing_or_mismatched_calibration_stops_with_the_calibrate_command(rig, checkpoint, tmp_path, capsys):
    calibration = tmp_path / "calibration" / f"{ARM_ID}.json"
    saved = calibration.read_text()
    calibration.unlink()
    assert deploy(rig, checkpoint, tmp_path) == 2
    err = capsys.readouterr().err
    assert "no calibration file for the follower" in err and "lerobot-calibrate --robot.type=so101_follower" in err
    calibration.write_text(saved)
    rig.emulator.set_register(3, "Homing_Offset", 99)  # the servos were reset since the calibration
    assert deploy(rig, checkpoint, tmp_path) == 2
    err = capsys.readouterr().err
    assert "does not match the servos" in err and "elbow_flex" in err
    assert released(rig) and not (tmp_path / "deployed").exists()


def test_the_training_dataset_comes_from_the_checkpoint_or_the_flag(tmp_path: Path) -> None:
    from so101.errors import So101Error
    from so101.inference.deploy import (
        DeployConfig,
        DeployPolicyOptions,
        FollowerOptions,
        TrainingOptions,
        training_root,
    )

    config = DeployConfig(DeployPolicyOptions(path=tmp_path), FollowerOptions(port="p", id="f"))
    with pytest.raises(So101Error, match=r"--training\.root"):
        training_root(config, tmp_path)
    (tmp_path / "train_config.json").write_text(json.dumps({"dataset": {"root": "/data/stock"}}))
    assert training_root(config, tmp_path) == Path("/data/stock")  # a stock lerobot-train checkpoint
    (tmp_path / "so101.json").write_text(json.dumps({"dataset": "/data/ours"}))
    assert training_root(config, tmp_path) == Path("/data/ours")
    config.training = TrainingOptions(root=Path("/data/flag"))
    assert training_root(config, tmp_path) == Path("/data/flag")


def test_an_end_effector_policy_observes_the_tcp_and_acts_through_the_ik(rig, tiny_dataset, tmp_path, capsys):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from so101.kinematics.ee_features import EELayout
    from so101.recording.convert_ee import main as convert
    from so101.training.train import main as train

    ee = tmp_path / "ee"
    assert convert([f"--src.root={tiny_dataset}", f"--dst.root={ee}", "--dst.repo_id=test/ee", "--state",
                    "--verify=false"]) == 0  # fmt: skip
    run = tmp_path / "run"
    assert train([
        f"--dataset.root={ee}", "--dataset.repo_id=test/ee", f"--output_dir={run}", f"--cache_dir={tmp_path / 'c'}",
        "--policy.dim_model=32", "--policy.n_heads=2", "--policy.dim_feedforward=64", "--policy.n_encoder_layers=1",
        "--policy.n_vae_encoder_layers=1", "--policy.chunk_size=10", "--policy.n_action_steps=10",
        "--policy.device=cpu", "--batch_size=4", "--num_workers=0", "--policy.image_height=48",
        "--policy.image_width=64", "--policy.pretrained_backbone=false", "--wandb.mode=disabled", "--steps=2",
        "--save_freq=2", "--eval_freq=0",
    ]) == 0  # fmt: skip
    capsys.readouterr()
    status = deploy(rig, run / "checkpoints" / "last" / "pretrained_model", tmp_path, "--allow", "timing")
    out = capsys.readouterr().out
    assert status == 0, out
    dataset = LeRobotDataset("test/deployed", root=tmp_path / "deployed")
    # The raw actions are poses in the checkpoint's layout; what was sent are joint targets within the step bound.
    assert dataset.meta.features["policy.action"]["names"] == list(EELayout().names)
    sent = np.stack([dataset[i]["action"].numpy() for i in range(9)])
    assert np.isfinite(sent).all() and np.abs(np.diff(sent[:, :5], axis=0)).max() <= 1.0 + 1e-4


@pytest.mark.parametrize("layout", ["joints", "ee"])
def test_lerobot_takes_the_sent_action_for_the_one_output_and_not_the_raw_policy_action(layout: str) -> None:
    """A deployment dataset's features as LeRobot's dataset_to_policy_features (what lerobot-train and make_policy
    build a policy from) sees them: the raw policy action is neither an input nor an output."""
    from lerobot.configs.types import FeatureType
    from lerobot.datasets.utils import DEFAULT_FEATURES, dataset_to_policy_features

    from so101.inference.deploy_loop import policy_action_feature
    from so101.kinematics.ee_features import EELayout
    from so101.kinematics.units import JOINT_FEATURE_NAMES
    from so101.recording.dataset_writer import dataset_features
    from so101.sim.scene import CameraConfig

    names = list(JOINT_FEATURE_NAMES) if layout == "joints" else list(EELayout().names)
    cameras = [CameraConfig("overhead_cam", 64, 48), CameraConfig("wrist_cam", 64, 48)]
    features = {**dataset_features(cameras, policy_action_feature(names)), **DEFAULT_FEATURES}
    policy_features = dataset_to_policy_features(features)
    assert {key: f.type for key, f in policy_features.items()} == {
        "action": FeatureType.ACTION,
        "observation.state": FeatureType.STATE,
        "observation.images.overhead_cam": FeatureType.VISUAL,
        "observation.images.wrist_cam": FeatureType.VISUAL,
    }


def test_robot_options_are_lerobots_follower_config(tmp_path: Path) -> None:
    """``--robot.*`` offers every field of LeRobot's follower config (a LeRobot upgrade that adds one fails here),
    and hands LeRobot its own config with the values given."""
    import dataclasses

    from lerobot.cameras.opencv.configuration_opencv import OpenCVCameraConfig
    from lerobot.robots.so_follower import SO101FollowerConfig

    from so101.command import parse
    from so101.errors import So101Error
    from so101.inference.deploy import DeployConfig

    lerobot_fields = {f.name for f in dataclasses.fields(SO101FollowerConfig) if f.init}
    config = parse(DeployConfig, [
        "--policy.path", str(tmp_path), "--robot.port", "/dev/ttyACM7", "--robot.id", "arm",
        "--robot.calibration_dir", str(tmp_path), "--robot.use_degrees", "false", "--robot.max_relative_target", "5",
        "--robot.cameras", "{wrist_cam: {type: opencv, index_or_path: 2, width: 64, height: 48, fps: 30}}",
    ], "deploy")  # fmt: skip
    assert lerobot_fields <= {f.name for f in dataclasses.fields(config.robot)}
    robot = config.robot.lerobot_config()
    assert isinstance(robot, SO101FollowerConfig) and config.robot.type == "so101_follower"
    assert (robot.port, robot.id, robot.calibration_dir) == ("/dev/ttyACM7", "arm", tmp_path)
    assert (robot.use_degrees, robot.max_relative_target, robot.disable_torque_on_disconnect) == (False, 5.0, True)
    assert isinstance(robot.cameras["wrist_cam"], OpenCVCameraConfig) and robot.cameras["wrist_cam"].width == 64
    with pytest.raises(So101Error, match="width"):  # LeRobot's own camera check, as an option error
        parse(DeployConfig, ["--policy.path", str(tmp_path), "--robot.port", "p", "--robot.id", "f",
                             "--robot.cameras", "{wrist_cam: {type: opencv, index_or_path: 2}}"], "deploy")
    with pytest.raises(So101Error, match="so101_follower"):
        parse(DeployConfig, ["--policy.path", str(tmp_path), "--robot.type", "koch_follower"], "deploy")


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP], ids=lambda n: signal.Signals(n).name)
def test_sigterm_and_sighup_stop_like_ctrl_c_and_torque_is_read_back_off(number, rig, checkpoint, tmp_path):
    status, lines = deploy_signalled(rig, checkpoint, tmp_path, "emergency stop:", number, "--episode_time_s", "30")
    name = signal.Signals(number).name
    assert status == 130, "\n".join(lines)
    assert any(line.startswith(f"stopped: interrupted ({name}") for line in lines), lines
    assert lines[-1] == RELEASED and not any("Traceback" in line for line in lines), "\n".join(lines)
    assert released(rig)


def test_ctrl_c_between_episodes_keeps_the_saved_one_and_releases(rig, checkpoint, tmp_path):
    status, lines = deploy_signalled(
        rig, checkpoint, tmp_path, "saved as episode 0", signal.SIGINT, "--episodes", "2", "--reset_time_s", "30"
    )
    assert status == 130 and lines[-1] == RELEASED, "\n".join(lines)
    assert released(rig)
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    assert LeRobotDataset("test/deployed", root=tmp_path / "deployed").meta.total_episodes == 1


def test_ctrl_c_during_the_move_to_the_start_pose_releases(rig, checkpoint, tmp_path):
    rig.place(START_POSE + np.array([60.0, 0.0, 0.0, 0.0, 0.0, 0.0]))
    status, lines = deploy_signalled(
        rig, checkpoint, tmp_path, "moving slowly to the training start pose", signal.SIGINT, "--move_to_start"
    )
    assert status == 130 and lines[-1] == RELEASED, "\n".join(lines)
    assert not any("Port is in use" in line or "Traceback" in line for line in lines), lines
    assert released(rig)
    assert abs(rig.positions()[0] - START_POSE[0]) > 10.0, "stopped on the way, not after arriving"


def test_an_unplugged_follower_is_one_line_exit_1_and_the_release_is_not_claimed(rig, checkpoint, tmp_path, capsys):
    once_running(tmp_path, rig.emulator.unplug)
    extra = ["--episode_time_s", "30", "--safety.watchdog_s", "5"]  # a loaded machine's slow loop is not the point
    status = deploy(rig, checkpoint, tmp_path, "--allow", "timing", *extra)
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert status == 1, captured
    assert sum(line.startswith("stopped: the follower's bus on") for line in lines) == 1, lines
    assert lines[-1].startswith("follower NOT verified released") and "power supply off" in lines[-1]
    assert "Traceback" not in captured.err + captured.out and "released: torque off" not in captured.out
    assert all(rig.torque_enabled())  # unreachable: exactly what the last line warns of
