"""The VR action source (``--teleop vr``), and a headset view for any other source (``--view vr``).

``VRTeleop`` drives the arm from the controlling hand through the clutch (``so101.teleop.vr.clutch``); with a ``driver``
(the leader arm) the driver's targets drive it instead and the headset only shows the scene. Either way the
controllers' buttons (or their keyboard fallbacks) start, save and re-record episodes, recenter the workspace and
stop the session, exactly like keyboard teleop's keys: the episode loop polls them through ``poll_command``.
The terminal (``so101.teleop.vr.terminal``) shows the episode's state on a status line and its keys press the same
buttons: a session can be followed and driven without a headset worn or a window.

Session lifecycle: while the headset is not focused (taken off, the system menu) ``next_action`` holds: it keeps
drawing frames until focus returns, so the episode pauses with the arm still and no frame recorded, and resumes
where it was (the clutch engages afresh). The runtime stopping the session (STOPPING) ends the recording like the
stop button; the runtime going away raises ``SourceDisconnected``: the episode in progress is dropped, every saved
one stays.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import numpy as np

from so101.kinematics.pose import Pose
from so101.teleop.action_source import ActionSource, EpisodeCommand, SourceDisconnected
from so101.teleop.vr.actions import CLUTCH_THRESHOLD, ControllerSample
from so101.teleop.vr.headset import Headset, VRConfig
from so101.teleop.vr.terminal import KEY_HELP, StatusLine, TerminalKeys

if TYPE_CHECKING:
    from so101.sim.control_loop import View
    from so101.sim.simulator import So101Sim
    from so101.teleop.vr.clutch import Clutch

BUTTON_HELP = "A/Enter start+save  B/Backspace re-record  X/C recenter  Y/Q stop  grip/Space clutch"


class VRTeleop(ActionSource):
    """Joint targets from a VR controller through the clutch, or from ``driver`` with the scene in the headset.

    Args:
        config: the ``--vr.*`` options.
        driver: another source that drives the arm (``--teleop leader --view vr``); None: the controller does.
        terminal: show the state on a status line on stdout and read the episode keys from stdin
            (``so101.teleop.vr.terminal``); False for benchmarks.
    """

    name = "vr"
    realtime = True

    def __init__(
        self, config: VRConfig | None = None, driver: ActionSource | None = None, terminal: bool = True
    ) -> None:
        self.config = config or VRConfig()
        self.driver = driver
        self.terminal = terminal
        if driver is not None:
            self.name = driver.name  # the dataset records what drove the arm
        self.headset: Headset | None = None
        self.input_filter: Callable[[ControllerSample], ControllerSample] | None = None
        """Given to the headset (``Headset.input_filter``): tests press buttons a simulated controller cannot."""
        self.clutch: Clutch | None = None
        self.latencies_s: list[float] = []
        """Per control step: from the controller sample to the joint targets (s)."""
        self.pauses = 0
        """Times the session lost focus during an episode."""
        self.episodes_planned: int | None = None
        self.episode_time_s: float | None = None
        self.status_line: StatusLine | None = None
        self.keys: TerminalKeys | None = None
        self._number = 1
        self._held: frozenset[str] = frozenset()
        self._command = EpisodeCommand.CONTINUE
        self._waiting = False
        self._started = False
        self._targets = np.zeros(6)
        self._succeeded = False
        self._engaged = False
        self._reachable = True

    def plan_session(self, episodes: int, episode_time_s: float) -> None:
        """Episodes to record and their longest time, for the status panel."""
        self.episodes_planned, self.episode_time_s = episodes, episode_time_s

    def episode_ended(self, kept: bool) -> None:
        """The episode that just ended was kept (saved, or practised to its end): the next one has the next number.
        An episode recorded again, or discarded, keeps its number."""
        self._number += kept

    # ------------------------------------------------------------------ ActionSource

    @property
    def view(self) -> View | None:
        return None if self.headset is None else self.headset.view

    def open(self, sim: So101Sim) -> Headset:
        """Start the headset session on ``sim`` (``so101 record`` does it before writing anything; otherwise the
        first ``wait_for_start``); waits until focused. On failure everything is closed, the driver included.

        Raises:
            DeviceError: no runtime, no headset, no OpenGL binding (the message names the fix).
            SourceDisconnected: the session did not come up (the runtime stopped it or went away).
        """
        if self.headset is not None:
            return self.headset
        from so101.kinematics.ee_controller import EEControllerConfig, EndEffectorController
        from so101.teleop.vr.clutch import Clutch

        try:
            self.headset = Headset(self.config, sim)
            self.headset.input_filter = self.input_filter
            if self.terminal:
                self._open_terminal(self.headset)
            controller = EndEffectorController(sim.model, EEControllerConfig(self.config.max_joint_step_deg))
            self.clutch = Clutch(controller, self.config.clutch(), _base_from_world(sim), sim.control_dt)
            if not self.headset.start():
                raise SourceDisconnected(
                    "the OpenXR session did not start: put the headset on (it must be worn to get focus) and "
                    "keep the runtime running"
                )
        except BaseException:
            self.close()
            raise
        return self.headset

    def wait_for_start(self, sim: So101Sim) -> bool:
        headset = self.open(sim)
        if self.driver is not None and not self.driver.wait_for_start(sim):
            return False
        self._waiting, self._started = True, False
        self._command = EpisodeCommand.CONTINUE
        while not self._started:
            if self._command is EpisodeCommand.STOP or headset.session.ended:
                self._raise_if_lost()
                return False
            self._status(sim, "waiting")
            headset.view.draw_wait()
            self._buttons(headset.sample())
        self._waiting = False
        return True

    def start_episode(self, sim: So101Sim) -> None:
        self._command = EpisodeCommand.CONTINUE
        self._targets = sim.commanded_targets()
        self._succeeded = False
        if self.clutch is not None:
            self.clutch.release()
        if self.driver is not None:
            self.driver.start_episode(sim)

    def next_action(self, sim: So101Sim) -> np.ndarray:
        """Targets for this control step; holds (drawing frames) while the headset is not focused."""
        headset = self.open(sim)
        session = headset.session
        if not session.focused and not session.ended:
            self._pause(sim)
        self._raise_if_lost()
        if session.ended or not session.focused:  # ended, or stopped from the keyboard while paused: hold
            return self._targets.copy()
        targets = self.apply_input(headset.sample(), sim)
        if sim.signals.success and not self._succeeded:
            self._succeeded = True
            headset.actions.pulse()
        self._status(sim, "recording")
        return targets

    def apply_input(self, sample: ControllerSample, sim: So101Sim) -> np.ndarray:
        """Consume one controller sample (from the runtime's actions, the keyboard, or a test): the buttons'
        commands, then the clutch. Returns the joint targets (dataset units)."""
        assert self.headset is not None and self.clutch is not None
        self._buttons(sample)
        if self.driver is not None:
            self._targets = np.asarray(self.driver.next_action(sim), dtype=np.float64)
        else:
            anchor = self.headset.view.anchor
            hand = anchor.to_world(sample.hand) if sample.hand is not None and anchor.is_set else None
            step = self.clutch.step(sim.commanded_targets(), hand, sample.clutch > CLUTCH_THRESHOLD, sample.trigger)
            self._targets, self._engaged, self._reachable = step.targets, step.engaged, step.reachable
        self.latencies_s.append(time.perf_counter() - sample.time_s)
        return self._targets.copy()

    def poll_command(self) -> EpisodeCommand:
        """The buttons' latest command; STOP once the runtime has stopped the session.

        Raises:
            SourceDisconnected: the runtime went away (the episode in progress cannot be completed).
        """
        self._raise_if_lost()
        if self.headset is not None and self.headset.session.ended:
            return EpisodeCommand.STOP
        command, self._command = self._command, EpisodeCommand.CONTINUE
        if self.driver is not None and command is EpisodeCommand.CONTINUE:
            return self.driver.poll_command()
        return command

    def close(self) -> None:
        try:
            if self.headset is not None:
                self.headset.close()
                self.headset = None
        finally:
            if self.keys is not None:
                self.keys.close()
                self.keys = None
            if self.status_line is not None:
                self.status_line.close()
                self.status_line = None
            if self.driver is not None:
                self.driver.close()

    def say(self, line: str) -> None:
        """Print ``line`` on its own (a command's report between episodes), clear of the status line."""
        if self.status_line is not None:
            self.status_line.say(line)
        else:
            print(line)

    # ------------------------------------------------------------------ buttons, pause, status

    def _buttons(self, sample: ControllerSample) -> None:
        """Act on the buttons pressed since the last sample (edges, so a held button acts once)."""
        assert self.headset is not None
        pressed, self._held = (sample.buttons - self._held) | sample.taps, sample.buttons
        if "recenter" in pressed and self.headset.view.recenter() and self.clutch is not None:
            self.clutch.release()  # the hand's world pose jumped with the workspace: engage afresh
        if "stop" in pressed:
            self._command = EpisodeCommand.STOP
        elif "rerecord" in pressed and not self._waiting:
            self._command = EpisodeCommand.RERECORD
        elif "start_save" in pressed:
            if self._waiting:
                self._started = True
            else:
                self._command = EpisodeCommand.SAVE
                self.headset.actions.pulse()

    def _pause(self, sim: So101Sim) -> None:
        """Draw frames, moving nothing, until the session is focused again or ends, or the stop key is pressed
        (the mirror window's keys still work: the controllers give no input without focus)."""
        assert self.headset is not None and self.clutch is not None
        session = self.headset.session
        self.pauses += 1
        self.clutch.release()
        self._status(sim, "paused")
        while not session.focused and not session.ended and self._command is not EpisodeCommand.STOP:
            self.headset.view.draw_wait()
            self._buttons(self.headset.sample())
        self._held = frozenset()

    def _raise_if_lost(self) -> None:
        if self.headset is not None and self.headset.session.lost:
            raise SourceDisconnected("the OpenXR runtime went away (headset disconnected or runtime closed).")

    def _open_terminal(self, headset: Headset) -> None:
        """The status line, and the keys from stdin when it gives any; says which."""
        self.status_line = StatusLine()
        self.keys = TerminalKeys()
        if self.keys.start():
            headset.keys = self.keys
            self.status_line.say(f"vr: keys here: {KEY_HELP} (controllers: {BUTTON_HELP})")
        else:
            self.status_line.say(
                "vr: no keys from this terminal (stdin is not a terminal or a pipe); use the controllers or the "
                f"mirror window: {BUTTON_HELP}"
            )

    def _status(self, sim: So101Sim, state: Literal["waiting", "recording", "paused"]) -> None:
        """Show the episode's ``state`` on the headset's panel and on the terminal's status line."""
        assert self.headset is not None
        elapsed = sim.steps * sim.control_dt
        left = f"   {max(0.0, self.episode_time_s - elapsed):4.1f} s left" if self.episode_time_s else ""
        signals = sim.signals
        lines = [
            f"episode {self._number}{f' of {self.episodes_planned}' if self.episodes_planned else ''}   "
            f"{_PANEL_STATE[state]}{left}",
            f"grasped {int(signals.grasped)}  lifted {int(signals.lifted)}  over bowl {int(signals.over_bowl)}  "
            f"success {int(signals.success)}",
        ]
        if self.driver is None:
            lines.append(("CLUTCH" if self._engaged else "clutch off") + ("" if self._reachable else "  OUT OF REACH"))
        lines.append(BUTTON_HELP)
        self.headset.view.status_lines = lines
        if self.status_line is not None:
            episode = f"episode {self._number}" + (f"/{self.episodes_planned}" if self.episodes_planned else "")
            if state == "waiting":
                how = "Enter here or A" if self.keys is not None and self.keys.mode else "A"
                text = f"{episode}: waiting to start (press {how})"
            elif state == "recording":
                limit = f" of {self.episode_time_s:g} s" if self.episode_time_s else " s"
                text = f"{episode}: recording {elapsed:.1f}{limit}" + (", success" if signals.success else "")
            else:
                text = f"{episode}: paused, the headset lost focus (put it on again; q stops)"
            self.status_line.show(f"{self._number} {state}", text, elapsed)


_PANEL_STATE = {
    "waiting": "READY: press A (Enter) to start this episode",
    "recording": "RECORDING",
    "paused": "PAUSED: the headset lost focus",
}


def _base_from_world(sim: So101Sim) -> Pose:
    """The inverse of the arm base's pose in the world (the clutch moves hands from world into base frame),
    computed on a data of its own: the sim may not have been reset yet."""
    import mujoco

    from so101.kinematics.fk import BASE_BODY_NAME

    data = mujoco.MjData(sim.model)
    mujoco.mj_kinematics(sim.model, data)
    body = mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_BODY, BASE_BODY_NAME)
    return Pose(data.xpos[body].copy(), data.xquat[body].copy()).inverse()
