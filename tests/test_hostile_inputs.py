"""A corpus of corrupted and foreign inputs (not datasets): checkpoints, training runs, calibration files, scene
placements and robot MJCFs, each given to the command that reads it. Every one must stop the command with one line
naming the file, the problem and the fix (exit 2, never a traceback), and leave the user's files as they were."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from so101.policies.act import ActPolicyConfig

TINY = ActPolicyConfig(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_vae_encoder_layers=1,
                       chunk_size=10, n_action_steps=10, image_height=48, image_width=64, pretrained_backbone=False,
                       device="cpu")  # fmt: skip


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (links as their target) -> its SHA-256."""
    return {
        str(path.relative_to(root)): (
            "link:" + str(path.readlink()) if path.is_symlink() else hashlib.sha256(path.read_bytes()).hexdigest()
        )
        for path in sorted(root.rglob("*"))
        if path.is_file() or path.is_symlink()
    }


def _refused(main: Callable[[list[str]], int], argv: list[str], user: Path, capsys, names: str) -> str:
    """Run a command on a hostile input under ``user``; assert one clear line naming ``names`` and no change."""
    before = _snapshot(user)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert names in err, err
    assert _snapshot(user) == before, "a failed command changed the user's files"
    return err


# ------------------------------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from so101.inference.benchmark import write_untrained_checkpoint

    return write_untrained_checkpoint(tmp_path_factory.mktemp("good") / "pretrained_model", TINY, (48, 64))


def _config(ckpt: Path) -> dict:
    return json.loads((ckpt / "config.json").read_text())


def _other_shape(ckpt: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    weights = load_file(ckpt / "model.safetensors")
    weights["model.action_head.weight"] = torch.zeros(7, TINY.dim_model)
    save_file(weights, ckpt / "model.safetensors")


CHECKPOINTS: dict[str, tuple[Callable[[Path], object], str, str]] = {
    # case: (how the checkpoint is spoiled, the file the message names, a word of the problem)
    "missing config.json": (lambda c: (c / "config.json").unlink(), "model.safetensors", "no config.json"),
    "bad JSON in config.json": (lambda c: (c / "config.json").write_text('{"type": "act",'), "config.json",
                                "not valid JSON"),
    "missing weights": (lambda c: (c / "model.safetensors").unlink(), "config.json", "no model.safetensors"),
    "truncated safetensors": (
        lambda c: (c / "model.safetensors").write_bytes((c / "model.safetensors").read_bytes()[:5000]),
        "model.safetensors", "truncated"),
    "empty safetensors": (lambda c: (c / "model.safetensors").write_bytes(b""), "model.safetensors", "truncated"),
    "a diffusion policy": (lambda c: (c / "config.json").write_text(json.dumps({**_config(c), "type": "diffusion"})),
                           "config.json", "'diffusion' policy"),
    "a config of another LeRobot version": (
        lambda c: (c / "config.json").write_text(json.dumps({**_config(c), "vision_tower": "siglip"})),
        "config.json", "vision_tower"),
    "foreign so101.json": (lambda c: (c / "so101.json").write_text(json.dumps({"robot": "koch"})), "so101.json",
                           "not the workbench's"),
    "so101.json with impossible values": (
        lambda c: (c / "so101.json").write_text(json.dumps({"cameras": {"overhead_cam": [48, 64]}, "fps": 0})),
        "so101.json", "fps 0"),
    "so101.json with an end-effector space but no layout": (
        lambda c: (c / "so101.json").write_text(
            json.dumps({"cameras": {"overhead_cam": [48, 64]}, "action_space": "ee"})),
        "so101.json", "needs an ee_layout"),
    "weights of another shape": (_other_shape, "model.safetensors", "size mismatch"),
    "missing processor files": (lambda c: (c / "policy_preprocessor.json").unlink(), "policy_preprocessor.json",
                                "missing"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CHECKPOINTS))
def test_eval_names_a_damaged_or_foreign_checkpoint(case: str, good_checkpoint: Path, tmp_path: Path, capsys) -> None:
    from so101.inference.evaluate_cmd import main as evaluate

    spoil, named, problem = CHECKPOINTS[case]
    ckpt = tmp_path / "user" / "000100" / "pretrained_model"
    shutil.copytree(good_checkpoint, ckpt)
    spoil(ckpt)
    err = _refused(evaluate, [str(ckpt), "--episodes=1", "--workers=0", "--episode_time_s=0.1"], tmp_path / "user",
                   capsys, named)  # fmt: skip
    assert problem in err, err
    assert not (tmp_path / "user" / "000100" / "eval").exists()


# ------------------------------------------------------------------------------------------- training runs


def _run_with(tmp_path: Path, tiny_dataset: Path, good_checkpoint: Path) -> Path:
    """A training run folder as ``so101 train`` leaves it: saved options and one checkpoint, ``last`` on it."""
    import draccus

    from so101.training.train import CONFIG_NAME, TrainConfig

    run = tmp_path / "user" / "run"
    checkpoint = run / "checkpoints" / "000004"
    shutil.copytree(good_checkpoint, checkpoint / "pretrained_model")
    (checkpoint / "training_state").mkdir()
    (checkpoint / "training_state" / "training_step.json").write_text('{"step": 4}')
    (run / "checkpoints" / "last").symlink_to("000004")
    cfg = TrainConfig()
    cfg.dataset.root = tiny_dataset
    cfg.output_dir = str(run)
    with open(run / CONFIG_NAME, "w") as f:
        draccus.dump(cfg, f)
    return run


def test_resume_names_a_run_without_a_complete_checkpoint(tiny_dataset, good_checkpoint, tmp_path, capsys) -> None:
    from so101.training.train import main as train

    run = _run_with(tmp_path, tiny_dataset, good_checkpoint)  # its training state lacks the optimizer and RNG
    err = _refused(train, ["--resume", f"--output_dir={run}"], tmp_path / "user", capsys, "optimizer_state")
    assert "nothing to resume" in err and "without --resume" in err


def test_resume_names_unreadable_saved_options(tiny_dataset, good_checkpoint, tmp_path, capsys) -> None:
    from so101.training.train import CONFIG_NAME
    from so101.training.train import main as train

    run = _run_with(tmp_path, tiny_dataset, good_checkpoint)
    (run / CONFIG_NAME).write_text("steps: [unclosed\n")
    err = _refused(train, ["--resume", f"--output_dir={run}"], tmp_path / "user", capsys, CONFIG_NAME)
    assert "saved options" in err and "new run" in err


# ------------------------------------------------------------------------------------------- calibration files


def _good_calibration() -> dict:
    from so101.teleop.feetech.emulated_arm import calibration_entries

    return calibration_entries()


def _without_wrist_roll() -> dict:
    entries = _good_calibration()
    del entries["wrist_roll"]
    return entries


def _reversed_range() -> dict:
    entries = _good_calibration()
    entries["elbow_flex"]["range_min"], entries["elbow_flex"]["range_max"] = 3000, 1000
    return entries


KOCH_LIKE = {name: {"id": i + 1, "drive_mode": 0, "homing_offset": 0, "range_min": 0, "range_max": 4095}
             for i, name in enumerate(["waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate",
                                       "gripper"])}  # fmt: skip

CALIBRATIONS: dict[str, tuple[str, Callable[[], object], str]] = {
    # case: (the command that reads it, the file's content, a word of the problem)
    "bad JSON": ("teleop", lambda: "{'shoulder_pan': 1}", "not valid JSON"),
    "missing joints": ("teleop", _without_wrist_roll, "lacks the joints ['wrist_roll']"),
    "wrong ranges": ("teleop", _reversed_range, "range 3000..1000"),
    "another robot's file": ("calibrate-leader", lambda: KOCH_LIKE, "another robot's file"),
    "not a calibration": ("calibrate-leader", lambda: [1, 2, 3], "not a LeRobot calibration file"),
    "emulate over a broken file": ("emulate", lambda: "{", "not valid JSON"),
}


@pytest.fixture(scope="module")
def leader_port():
    from so101.teleop.feetech.emulated_arm import store_calibration
    from so101.teleop.feetech.emulator import FeetechBusEmulator

    with FeetechBusEmulator() as emulator:
        store_calibration(emulator)
        yield emulator.port


@pytest.mark.parametrize("case", list(CALIBRATIONS))
def test_a_broken_or_foreign_calibration_file_is_named(case: str, leader_port: str, tmp_path: Path, capsys) -> None:
    from so101.teleop.calibrate_leader import main as calibrate_leader
    from so101.teleop.emulate_cmd import main as emulate
    from so101.teleop.teleop_cmd import main as teleop

    command, content, problem = CALIBRATIONS[case]
    user = tmp_path / "user"
    user.mkdir()
    path = user / "arm.json"
    value = content()
    path.write_text(value if isinstance(value, str) else json.dumps(value, indent=4))
    leader = ["--leader.port", leader_port, "--leader.id", "arm", "--leader.calibration_dir", str(user)]
    runs = {
        "teleop": (teleop, ["--teleop", "leader", *leader, "--headless", "true", "--duration_s", "0.1"]),
        "calibrate-leader": (calibrate_leader, leader),
        "emulate": (emulate, ["leader", "--id", "arm", "--calibration_dir", str(user), "--duration_s", "0.1"]),
    }
    main, argv = runs[command]
    err = _refused(main, argv, user, capsys, str(path))
    assert problem in err, err


# ------------------------------------------------------------------------------------------- scene placements


@pytest.fixture(scope="module")
def env():
    from so101.sim.env import So101PickPlaceEnv
    from so101.sim.scene import CameraConfig

    environment = So101PickPlaceEnv(cameras=[CameraConfig("overhead_cam", 32, 24)])
    yield environment
    environment.close()


PLACEMENTS = {
    "bad JSON": ('{"seed": 3, "brick_pos": [0.2, 0.1', "not valid JSON"),
    "missing fields": ('{"seed": 3, "brick_pos": [0.2, 0.1, 0.01]}', "expected keys"),
    "off the table": ('{"seed": 3, "brick_pos": [1.5, 0.1, 0.01], "brick_yaw": 0, "bowl_pos": [0.2, -0.1, 0]}',
                      "brick_pos [1.5, 0.1, 0.01] is off the table"),
    "positions that are not 3 numbers": (
        '{"seed": 3, "brick_pos": [0.2, 0.1], "brick_yaw": 0, "bowl_pos": [0.2, -0.1, 0]}', "3 finite numbers"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(PLACEMENTS))
def test_env_reset_names_what_is_wrong_with_a_scene_placement(case: str, env) -> None:
    text, problem = PLACEMENTS[case]
    with pytest.raises(ValueError) as refused:
        env.reset(options={"placement": text})
    message = str(refused.value)
    assert problem in message and "\n" not in message, message
    assert "scene placement" in message or "not a scene placement" in message


# ------------------------------------------------------------------------------------------- robot MJCFs


def _missing_mesh(path: Path) -> None:
    from so101.sim.paths import ROBOT_XML

    text = ROBOT_XML.read_text().replace("<asset>", '<asset>\n    <mesh name="base_shell" file="meshes/base.stl"/>', 1)
    path.write_text(text)


MJCFS: dict[str, tuple[str, Callable[[Path], object], str]] = {
    # case: (the command, how the file is made, a word of the problem); each made at user/robot.xml
    "not XML": ("rollout", lambda p: p.write_text("this is not a robot\n"), "not a MuJoCo model"),
    "binary garbage": ("view", lambda p: p.write_bytes(bytes(range(256)) * 4), "not a MuJoCo model"),
    "an MJCF that is not an SO-101": (
        "record",
        lambda p: p.write_text('<mujoco><worldbody><body><joint name="hinge"/><geom size="0.1"/></body></worldbody>'
                               "</mujoco>"),
        "not an SO-101 model"),
    "missing mesh": ("rollout", _missing_mesh, "does not compile"),
    "a folder instead of the file": ("rollout", lambda p: (p / "meshes").mkdir(parents=True), "is a folder"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MJCFS))
def test_a_foreign_or_broken_robot_mjcf_is_named(case: str, tmp_path: Path, capsys) -> None:
    from so101.recording.record import main as record
    from so101.sim.rollout_cmd import main as rollout
    from so101.sim.view_cmd import main as view

    command, make, problem = MJCFS[case]
    user = tmp_path / "user"
    user.mkdir()
    robot = user / "robot.xml"
    make(robot)
    scene = [f"--scene.robot_xml={robot}"]
    runs = {
        "rollout": (rollout, [*scene, f"--output={tmp_path / 'rollout'}", "--scenes=1"]),
        "view": (view, [*scene, "--frames=1"]),
        "record": (record, [*scene, "--teleop=scripted", "--episodes=1", f"--dataset.root={tmp_path / 'ds'}",
                            "--dataset.repo_id=test/hostile"]),
    }  # fmt: skip
    main, argv = runs[command]
    err = _refused(main, argv, user, capsys, str(robot))
    assert problem in err, err
    assert not (tmp_path / "ds").exists(), "a failed recording left a dataset folder"


def test_a_checkpoint_that_fails_in_an_evaluation_worker_is_named_by_the_command(good_checkpoint, tmp_path,
                                                                                 capsys) -> None:  # fmt: skip
    from so101.inference.evaluate_cmd import main as evaluate

    ckpt = tmp_path / "user" / "pretrained_model"
    shutil.copytree(good_checkpoint, ckpt)
    _other_shape(ckpt)  # passes every check of the files: only loading the weights, in the worker, finds it
    err = _refused(evaluate, [str(ckpt), "--episodes=1", "--workers=1", "--episode_time_s=0.1"], tmp_path / "user",
                   capsys, "model.safetensors")  # fmt: skip
    assert "size mismatch" in err and "copy the checkpoint whole" in err
