"""The leader arm drives, the headset shows: ``so101 teleop --view vr`` and ``so101 record --teleop leader --view
vr`` over the Feetech bus emulator and Monado (teleop/teleop_cmd.py, recording/record.py, teleop/vr/source.py)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from monado import monado  # noqa: F401  (fixture)

from so101.teleop.feetech import emulated_arm
from so101.teleop.feetech.emulator import FeetechBusEmulator
from so101.teleop.vr.actions import ControllerSample

POSE = np.array([10.0, -20.0, 30.0, -40.0, 50.0, 25.0])
HEADLESS = ["--vr.graphics", "egl", "--vr.mirror", "false", "--vr.render_profile", "fast"]


@pytest.fixture
def emulator(tmp_path: Path):
    with FeetechBusEmulator() as emu:
        emulated_arm.prepare(emu, tmp_path, "my_leader")
        emu.play(lambda t: POSE)
        yield emu


def test_teleop_shows_the_leader_driven_arm_in_the_headset(
    monado: object,  # noqa: F811
    emulator: FeetechBusEmulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from so101.teleop.teleop_cmd import main

    argv = ["--leader.port", emulator.port, "--leader.id", "my_leader", "--leader.calibration_dir", str(tmp_path),
            "--view", "vr", *HEADLESS, "--duration_s", "1.0"]  # fmt: skip
    assert main(argv) == 0
    clock = re.search(r"control loop: .*, (\d+) view frames", capsys.readouterr().out)
    assert clock is not None and int(clock.group(1)) > 0


def test_record_from_the_leader_with_the_headset_view(
    monado: object,  # noqa: F811
    emulator: FeetechBusEmulator,
    tmp_path: Path,
) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from so101.recording.dataset_writer import DatasetConfig
    from so101.recording.record import RecordConfig, record
    from so101.recording.scene_metadata import SceneMetadata
    from so101.sim.options import CameraOptions
    from so101.teleop.leader import LeaderConfig
    from so101.teleop.leader_source import LeaderSource
    from so101.teleop.vr.headset import VRConfig
    from so101.teleop.vr.source import VRTeleop

    vr = VRConfig(graphics="egl", mirror=False, render_profile="fast")
    leader = LeaderConfig(port=emulator.port, id="my_leader", calibration_dir=tmp_path)
    config = RecordConfig(
        teleop="leader", view="vr", episodes=1, episode_time_s=0.5, keep_failed=True, leader=leader, vr=vr,
        cameras=CameraOptions(width=64, height=48), dataset=DatasetConfig("test/vr_leader", root=tmp_path / "d"),
    )  # fmt: skip
    source = VRTeleop(vr, driver=LeaderSource(leader))

    def press_start(sample: ControllerSample) -> ControllerSample:  # the simulated controller's A reads false
        return replace(sample, buttons=sample.buttons | {"start_save"})

    source.input_filter = press_start
    summary = record(config, source=source)
    assert summary.saved == 1 and summary.frames == 15, summary
    dataset = LeRobotDataset("test/vr_leader", root=tmp_path / "d")
    actions = np.stack([dataset[i]["action"].numpy() for i in range(len(dataset))])
    np.testing.assert_allclose(actions, np.broadcast_to(POSE, actions.shape), atol=0.1)  # the leader drove
    (session,) = SceneMetadata(tmp_path / "d").sessions()
    assert session["source"] == "leader"
