"""What every source of actions (scripted expert, keyboard, leader arm, VR) offers the episode loop.

A source produces one joint-target vector per control step, in dataset units (degrees; gripper 0..100), and may
carry the user's episode commands (save, re-record, stop) from its own buttons or keys. The recorder and the
``teleop`` command know nothing else about a device.
"""

from __future__ import annotations

import abc
import enum
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from so101.errors import DeviceError

if TYPE_CHECKING:
    from so101.sim.control_loop import View
    from so101.sim.simulator import So101Sim


class EpisodeCommand(enum.Enum):
    """What the user asked the episode loop to do, polled once per control step."""

    CONTINUE = "continue"
    SAVE = "save"
    """End the episode now and keep it (even if the task signals do not say success)."""
    RERECORD = "rerecord"
    """Discard the episode in progress and record it again from the same scene."""
    STOP = "stop"
    """Discard the episode in progress and end the session; saved episodes stay."""


class SourceError(DeviceError):
    """A source's device cannot be used (not found, busy, not calibrated); the message names the fix."""


class SourceDisconnected(SourceError):
    """The device went away mid-session (cable pulled, headset lost). The episode in progress cannot be
    completed: the episode loop discards it, and every episode saved before stays."""


class ActionSource(abc.ABC):
    """One source of joint targets for the simulated follower."""

    name: ClassVar[str]
    """Short name recorded in dataset metadata (``scripted``, ``keyboard``, ``leader``, ``vr``)."""
    realtime: ClassVar[bool] = False
    """True when a person drives the source: the episode loop then keeps wall-clock pace."""
    pauses: int = 0
    """Times ``next_action`` held the episode (a headset that lost focus): the episode loop restarts its clock after
    each, so a pause counts neither as frames nor as late ticks."""

    @property
    def view(self) -> View | None:
        """What shows the scene to the person at the controls (a window, a headset), drawn by the episode loop's
        ``ControlClock`` between control ticks; None for sources without one."""
        return None

    def wait_for_start(self, sim: So101Sim) -> bool:
        """Called with the next episode's scene shown, before it starts; False ends the session.

        Sources with a person at the controls wait here for their start key or button.
        """
        return True

    def start_episode(self, sim: So101Sim) -> None:  # noqa: B027 - optional hook
        """Called after the scene is reset, before the first ``next_action``."""

    @abc.abstractmethod
    def next_action(self, sim: So101Sim) -> np.ndarray:
        """Joint targets for the next control step: shape (6,), dataset units, LeRobot joint order.

        Raises:
            SourceDisconnected: the device went away.
        """

    def poll_command(self) -> EpisodeCommand:
        """The user's latest episode command; sources without buttons always continue."""
        return EpisodeCommand.CONTINUE

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device."""
