"""The VR source against Monado: controller poses drive the arm through the clutch, re-clutching never jumps,
losing focus pauses, the runtime ending the session stops cleanly, a VR recording is a LeRobot dataset
(teleop/vr/source.py, teleop/vr/headset.py).

Monado's simulated controllers stand still and their buttons always read false, so ``Hands`` moves the
controlling hand and presses buttons on the path the runtime's action states take (``Headset.input_filter``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from monado import monado  # noqa: F401  (fixture)

from so101.kinematics.fk import ForwardKinematics
from so101.kinematics.pose import Pose
from so101.kinematics.units import dataset_to_radians
from so101.sim.simulator import So101Sim
from so101.teleop.action_source import EpisodeCommand, SourceDisconnected
from so101.teleop.vr.actions import ControllerSample
from so101.teleop.vr.headset import VRConfig
from so101.teleop.vr.source import VRTeleop

STEP_DEG = 6.0
HEADLESS = VRConfig(graphics="egl", mirror=False, render_profile="fast", max_joint_step_deg=STEP_DEG)


class Hands:
    """Input filter: the controlling hand moved by ``offset`` (reference space, m; ``drift`` added at every
    sample), buttons pressed, clutch and trigger set."""

    def __init__(self) -> None:
        self.offset = np.zeros(3)
        self.drift = np.zeros(3)
        self.buttons: set[str] = set()
        self.clutch = 0.0
        self.trigger = 0.0

    def __call__(self, sample: ControllerSample) -> ControllerSample:
        self.offset = self.offset + self.drift
        hand = None if sample.hand is None else Pose(sample.hand.position + self.offset, sample.hand.quat)
        buttons = sample.buttons | frozenset(self.buttons)
        return replace(sample, hand=hand, clutch=self.clutch, trigger=self.trigger, buttons=buttons)


@pytest.fixture
def hands() -> Hands:
    return Hands()


@pytest.fixture
def started(monado: object, hands: Hands) -> Iterator[tuple[VRTeleop, So101Sim]]:  # noqa: F811
    """A VR source whose first episode has started (the start button pressed)."""
    sim = So101Sim()
    sim.reset(0)
    source = VRTeleop(HEADLESS)
    source.input_filter = hands
    try:
        hands.buttons = {"start_save"}
        assert source.wait_for_start(sim)
        hands.buttons = set()
        source.start_episode(sim)
        yield source, sim
    finally:
        source.close()


def tcp(sim: So101Sim, targets: np.ndarray) -> np.ndarray:
    return ForwardKinematics(sim.model).pose(dataset_to_radians(targets, sim.scene.limits)).position


def drive(source: VRTeleop, sim: So101Sim, steps: int) -> list[np.ndarray]:
    """Control steps as the episode loop runs them; the targets of each."""
    out = []
    for _ in range(steps):
        targets = source.next_action(sim)
        sim.step(targets)
        out.append(targets)
    return out


def test_controller_motion_moves_the_gripper_through_the_clutch(started, hands: Hands) -> None:
    source, sim = started
    start = tcp(sim, sim.commanded_targets())
    hands.clutch, hands.trigger = 1.0, 1.0  # clutch held; trigger pulled: the gripper stays closed
    first = drive(source, sim, 1)[0]
    np.testing.assert_array_equal(first, sim.commanded_targets())  # engaging moves nothing
    hands.offset = np.array([0.0, 0.04, -0.08])  # the hand 8 cm forward (OpenXR -z) and 4 cm up
    targets = drive(source, sim, 20)[-1]
    moved = tcp(sim, targets) - start
    # Half the hand's motion (--vr.motion_scale 0.5), in the world: forward is +x, up is +z.
    np.testing.assert_allclose(moved, [0.04, 0.0, 0.02], atol=0.006)
    assert targets[5] == pytest.approx(0.0)
    assert source.latencies_s and max(source.latencies_s) < 1.0


def test_reclutching_after_moving_the_released_hand_never_jumps(started, hands: Hands) -> None:
    source, sim = started
    hands.clutch, hands.trigger = 1.0, 1.0
    history = drive(source, sim, 2)
    hands.offset = np.array([0.05, 0.0, -0.05])
    history += drive(source, sim, 8)
    hands.clutch = 0.0
    hands.offset = np.array([-0.3, 0.2, 0.25])  # moved far while released
    history += drive(source, sim, 3)
    hands.clutch = 1.0
    history += drive(source, sim, 2)
    hands.offset = np.array([-0.25, 0.2, 0.2])
    history += drive(source, sim, 8)
    steps = np.abs(np.diff(np.array(history)[:, :5], axis=0))
    assert steps.max() <= STEP_DEG + 1e-9
    np.testing.assert_array_equal(history[13], history[12])  # the re-engaging step itself moves nothing


def test_losing_focus_pauses_and_regaining_resumes(started, monkeypatch: pytest.MonkeyPatch) -> None:
    import xr

    source, sim = started
    headset = source.headset
    assert headset is not None
    drive(source, sim, 2)
    draw, drawn = headset.view.draw_wait, []

    def draw_then_refocus(timeout_s: float = 0.1) -> bool:  # the headset put back on after 3 frames
        drew = draw(timeout_s)
        drawn.append(sim.steps)
        if len(drawn) == 3:
            headset.session.handle_state(xr.SessionState.FOCUSED)
        return drew

    monkeypatch.setattr(headset.view, "draw_wait", draw_then_refocus)
    headset.session.handle_state(xr.SessionState.VISIBLE)  # what the runtime sends when the headset comes off
    assert not headset.session.focused and headset.session.visible
    held = sim.commanded_targets()
    steps = sim.steps
    targets = source.next_action(sim)  # blocks, drawing, until focus returns
    assert source.pauses == 1 and drawn == [steps] * 3  # frames drawn, no control step taken meanwhile
    np.testing.assert_allclose(targets[:5], held[:5])
    assert "PAUSED" not in headset.view.status_lines[0]
    drive(source, sim, 2)


def test_buttons_save_rerecord_and_stop_like_keyboard_keys(started, hands: Hands) -> None:
    source, sim = started
    assert source.headset is not None
    drive(source, sim, 1)  # A, which started the episode, released
    for button, command in (("start_save", EpisodeCommand.SAVE), ("rerecord", EpisodeCommand.RERECORD),
                            ("stop", EpisodeCommand.STOP)):  # fmt: skip
        hands.buttons = {button}
        drive(source, sim, 2)  # held for two steps: acts once
        assert source.poll_command() is command
        assert source.poll_command() is EpisodeCommand.CONTINUE
        hands.buttons = set()
        drive(source, sim, 1)
        if command is EpisodeCommand.RERECORD:
            source.start_episode(sim)  # the same episode again: its number stays
            drive(source, sim, 1)
            assert source.headset.view.status_lines[0].startswith("episode 1 ")


def test_recenter_moves_the_workspace_and_the_arm_holds(started, hands: Hands) -> None:
    source, sim = started
    headset = source.headset
    assert headset is not None
    hands.clutch, hands.trigger = 1.0, 1.0
    drive(source, sim, 3)
    before = headset.view.anchor.world_from_xr
    for _ in range(6):  # Monado's simulated head sways: recentering on it moves the workspace
        headset.view.draw_wait()
    hands.buttons = {"recenter"}
    held = sim.commanded_targets()
    targets = drive(source, sim, 1)[0]
    after = headset.view.anchor.world_from_xr
    assert before is not None and after is not None
    assert np.linalg.norm(after.position - before.position) > 1e-4
    np.testing.assert_allclose(targets[:5], held[:5], atol=1e-9)  # re-engaged from where the arm is: no jump


def test_the_runtime_stopping_the_session_stops_the_recording(started) -> None:
    source, _sim = started
    headset = source.headset
    assert headset is not None
    headset.session.request_exit(frame=headset.view.draw_wait)  # as when the user quits from the runtime's menu
    assert headset.session.ended and not headset.session.lost
    assert source.poll_command() is EpisodeCommand.STOP


def test_the_runtime_going_away_is_a_disconnection(started) -> None:
    import xr

    source, sim = started
    assert source.headset is not None
    source.headset.session.handle_state(xr.SessionState.LOSS_PENDING)
    with pytest.raises(SourceDisconnected, match="OpenXR runtime went away"):
        source.next_action(sim)


def test_a_vr_recording_is_a_dataset_lerobot_loads_and_keeps_it_when_the_runtime_goes(
    monado: object,  # noqa: F811
    hands: Hands,
    tmp_path: Path,
) -> None:
    import xr
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from so101.recording.dataset_writer import DatasetConfig
    from so101.recording.record import RecordConfig, record
    from so101.recording.scene_metadata import SceneMetadata
    from so101.sim.options import CameraOptions

    source = VRTeleop(HEADLESS)
    hands.clutch, hands.drift = 1.0, np.array([0.0, 0.0, -0.004])
    samples: list[str] = []

    def operator(sample: ControllerSample) -> ControllerSample:
        """Presses A (again and again) while an episode waits to start; in the second episode the runtime dies."""
        assert source.headset is not None
        samples.append(source.headset.view.status_lines[0] if source.headset.view.status_lines else "")
        hands.buttons = {"start_save"} if "READY" in samples[-1] and len(samples) % 2 else set()
        if sum("episode 2" in line and "RECORDING" in line for line in samples) == 5:
            source.headset.session.handle_state(xr.SessionState.LOSS_PENDING)
        return hands(sample)

    source.input_filter = operator
    config = RecordConfig(
        teleop="vr",
        episodes=3,
        episode_time_s=0.5,
        keep_failed=True,
        dataset=DatasetConfig(repo_id="test/so101_vr", root=tmp_path / "vr"),
        cameras=CameraOptions(width=64, height=48),
        vr=HEADLESS,
    )
    summary = record(config, source=source)
    assert summary.saved == 1 and summary.frames == 15 and summary.source_lost, summary
    assert "OpenXR runtime went away" in summary.stopped and "--resume" in summary.stopped
    dataset = LeRobotDataset("test/so101_vr", root=tmp_path / "vr")
    assert dataset.num_episodes == 1 and dataset.num_frames == 15  # the saved episode; the second one dropped
    actions = np.stack([dataset[i]["action"].numpy() for i in range(15)])
    assert np.abs(actions[-1, :5] - actions[0, :5]).max() > 1.0  # the controller moved the arm
    (session,) = SceneMetadata(tmp_path / "vr").sessions()
    assert session["source"] == "vr" and session["source_config"]["motion_scale"] == HEADLESS.motion_scale
