"""Keyboard teleoperation: held keys jog the gripper through the end-effector controller; Enter/Backspace/Q drive
the episode; the window is the source's view, drawn by the episode loop's clock, not by ``next_action``.

The window is replaced by a stand-in that records what would be shown and answers which keys are held; the real
window is exercised by tests/test_viewer.py.
"""

from __future__ import annotations

import glfw
import numpy as np
import pytest

from so101.sim.simulator import So101Sim
from so101.teleop.action_source import EpisodeCommand
from so101.teleop.keyboard import KeyboardConfig, KeyboardTeleop


class FakeViewer:
    frame_period_s = 1.0 / 60.0

    def __init__(self) -> None:
        self.status_lines: list[str] = []
        self.keys: dict[int, object] = {}
        self.labels: list[str] = []
        self.should_close = False
        self.frames = 0
        self.held: set[str] = set()
        """Names of the keys held down, as in ``glfw.KEY_<name>``."""
        self.on_draw = None

    def add_key(self, key: int, label: str, callback) -> None:
        self.keys[key] = callback
        self.labels.append(label)

    def press(self, key: int) -> None:
        self.keys[key]()

    def is_pressed(self, key: int) -> bool:
        return any(getattr(glfw, f"KEY_{name}") == key for name in self.held)

    def draw(self) -> None:
        self.frames += 1
        if self.on_draw is not None:
            self.on_draw()

    def shutdown(self) -> None:
        pass


class KeyboardUnderTest(KeyboardTeleop):
    def __init__(self, config: KeyboardConfig | None = None) -> None:
        super().__init__(config)
        self.fake = FakeViewer()

    def _make_viewer(self, sim):
        return self.fake


@pytest.fixture()
def sim() -> So101Sim:
    sim = So101Sim()
    sim.reset(0)
    return sim


def site_position(sim: So101Sim) -> np.ndarray:
    return sim.data.site_xpos[sim.scene.gripper_site].copy()


def drive(sim: So101Sim, keyboard: KeyboardUnderTest, held: set[str], frames: int) -> None:
    keyboard.fake.held = held
    for _ in range(frames):
        sim.step(keyboard.next_action(sim))


def test_held_keys_jog_the_gripper_in_end_effector_space(sim: So101Sim) -> None:
    keyboard = KeyboardUnderTest(KeyboardConfig(linear_speed=0.06))
    keyboard.start_episode(sim)
    drive(sim, keyboard, set(), 10)
    start = site_position(sim)
    drive(sim, keyboard, {"R"}, 30)  # up for one second
    drive(sim, keyboard, set(), 15)
    moved = site_position(sim) - start
    assert moved[2] == pytest.approx(0.06, abs=0.012)
    assert np.hypot(moved[0], moved[1]) < 0.01
    start = site_position(sim)
    drive(sim, keyboard, {"W"}, 15)  # forward for half a second
    drive(sim, keyboard, set(), 15)
    moved = site_position(sim) - start
    assert moved[0] == pytest.approx(0.03, abs=0.008) and abs(moved[2]) < 0.008
    assert "W/S" in keyboard.fake.status_lines[-1]
    # The source shows its window as its view; drawing it is the control clock's job, not next_action's.
    assert keyboard.view is keyboard.fake and keyboard.fake.frames == 0


def test_roll_turns_the_wrist_and_o_c_move_the_gripper(sim: So101Sim) -> None:
    keyboard = KeyboardUnderTest(KeyboardConfig(angular_speed=0.8, gripper_speed=80.0))
    keyboard.start_episode(sim)
    before = keyboard.next_action(sim)
    drive(sim, keyboard, {"L", "O"}, 15)
    after = keyboard.next_action(sim)
    assert after[4] - before[4] == pytest.approx(np.rad2deg(0.4), abs=3.0)  # 0.8 rad/s for 0.5 s
    assert after[5] == pytest.approx(40.0, abs=3.0)
    drive(sim, keyboard, {"C"}, 30)
    assert keyboard.next_action(sim)[5] == 0.0


def test_a_target_out_of_reach_holds_the_arm_and_says_so(sim: So101Sim) -> None:
    keyboard = KeyboardUnderTest(KeyboardConfig(linear_speed=0.5))
    keyboard.start_episode(sim)
    keyboard.fake.held = {"W"}
    actions = [keyboard.next_action(sim) for _ in range(60)]  # forward at 0.5 m/s for 2 s: far beyond reach
    assert "OUT OF REACH" in keyboard.fake.status_lines[1]
    np.testing.assert_array_equal(actions[-1], actions[-2])  # held still, no creeping
    keyboard.fake.held = {"S"}
    assert not np.array_equal(keyboard.next_action(sim), actions[-1])  # back the other way at once
    assert "OUT OF REACH" not in keyboard.fake.status_lines[1]


def test_episode_keys(sim: So101Sim) -> None:
    keyboard = KeyboardUnderTest()
    assert keyboard.view is None  # no window before the first episode
    keyboard.fake.on_draw = lambda: keyboard.fake.press(glfw.KEY_ENTER) if keyboard.fake.frames == 3 else None
    assert keyboard.wait_for_start(sim) is True  # Enter on the third frame shown
    assert "Enter: start" in keyboard.fake.status_lines[0]
    keyboard.fake.on_draw = None
    keyboard.start_episode(sim)
    assert keyboard.poll_command() is EpisodeCommand.CONTINUE
    keyboard.fake.press(glfw.KEY_ENTER)
    assert keyboard.poll_command() is EpisodeCommand.SAVE
    assert keyboard.poll_command() is EpisodeCommand.CONTINUE  # one command per press
    keyboard.fake.press(glfw.KEY_BACKSPACE)
    assert keyboard.poll_command() is EpisodeCommand.RERECORD
    keyboard.fake.press(glfw.KEY_Q)
    assert keyboard.poll_command() is EpisodeCommand.STOP
    keyboard.fake.should_close = True
    assert keyboard.poll_command() is EpisodeCommand.STOP
    assert keyboard.wait_for_start(sim) is False
