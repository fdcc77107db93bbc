"""Letting go of the real follower: torque off on every servo, read back to prove it, and said as it is.

An arm left holding torque after the program ended is the one outcome deployment must never hide. ``release``
therefore does not trust a write: it switches the torque off, reads every servo's ``Torque_Enable`` register back,
and retries until every servo answers off or the port is gone (a USB adapter unplugged, the device node removed).
``Released.line`` is the last line the user reads: either what was verified, or that nothing could be verified and
what to do about it (power the arm off).

Two things a stop can leave behind are undone first: bytes of a reply that arrived after its request was
abandoned (they would be read as the answer to the next request) and the SDK's ``is_using`` flag of a transaction
that a Ctrl-C cut short (every later request would fail with "Port is in use!").
"""

from __future__ import annotations

import errno
import logging
import os
import termios
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lerobot.robots.so_follower import SO101Follower

RELEASE_S = 5.0
"""How long ``release`` keeps trying through a bus that does not answer while its port is still there (s): a
servo supply switched off never answers, and the user must be told so rather than wait forever."""
RETRY_S = 0.05
"""Pause between two tries (s)."""
BUS_ERRORS: tuple[type[BaseException], ...] = (OSError, RuntimeError, termios.error)
"""What a stalled, unplugged or confused bus raises: pyserial's ``SerialException`` (an ``OSError``), LeRobot's
``ConnectionError`` (an ``OSError``) and ``RuntimeError``, and ``termios.error`` from a vanished device."""
GONE_ERRNOS = {errno.EIO, errno.ENXIO, errno.ENODEV}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Released:
    """The outcome of ``release``: ``verified`` only when every servo read its torque back as off."""

    verified: bool
    servos: int
    """Servos whose torque was read back off."""
    total: int
    problem: str = ""
    """Why it could not be verified, one phrase."""

    def line(self) -> str:
        """The last line of a deployment."""
        if self.verified:
            return f"follower released: torque off, read back from all {self.total} servos"
        return (
            f"follower NOT verified released: {self.problem}; the arm may still hold torque: switch its power "
            "supply off before touching it"
        )


def port_gone(port: str) -> bool:
    """The serial device no longer exists (unplugged: the kernel removed its node)."""
    return not os.path.exists(port)


def bus_lost(error: BaseException, port: str) -> bool:
    """``error`` came from a follower whose port has gone away (unplugged adapter, lost USB power)."""
    if not isinstance(error, BUS_ERRORS):
        return False
    code = getattr(error, "errno", None) or (error.args[0] if isinstance(error, termios.error) and error.args else None)
    return port_gone(port) or code in GONE_ERRNOS


def release(robot: SO101Follower, timeout_s: float = RELEASE_S) -> Released:
    """Torque off on every servo, verified by reading it back; then close the port and the cameras.

    Tries again (every ``RETRY_S``) until every servo reads back off, the port is gone, or ``timeout_s`` passed
    without an answer. Never raises for the bus (nor for LeRobot's handling of its replies): the result says what
    happened.
    """
    from so101.teleop.feetech.ports import close_quietly

    bus = robot.bus
    motors = list(bus.motors)
    deadline = time.monotonic() + timeout_s
    problem = ""
    off: list[str] = []
    while True:
        try:
            off = _torque_off(robot)
            if len(off) == len(motors):
                problem = ""
                break
            still = ", ".join(m for m in motors if m not in off)
            problem = f"{still} still report torque on after it was switched off"
        except Exception as error:  # whatever failed, the answer is the same: not verified yet, try again
            problem = f"the bus did not answer ({' '.join(str(error).split()) or type(error).__name__})"
        if port_gone(bus.port):
            problem = f"{bus.port} is gone (unplugged?), the servos cannot be reached"
            break
        if time.monotonic() > deadline:
            problem += f", for {timeout_s:g} s"
            break
        time.sleep(RETRY_S)
    close_quietly(bus)
    for camera in robot.cameras.values():
        try:
            if camera.is_connected:
                camera.disconnect()
        except Exception as error:  # a camera's own trouble must not hide the arm's outcome
            log.warning("could not disconnect a camera: %s", error)
    return Released(not problem, len(off), len(motors), problem)


def _torque_off(robot: SO101Follower) -> list[str]:
    """Write torque off to every servo, then read it back; returns the servos that read off."""
    bus = robot.bus
    handler = bus.port_handler
    if not handler.is_open:
        raise ConnectionError(f"{bus.port} is closed")
    # A transaction cut short by Ctrl-C or a signal left the SDK's flag set: nothing else uses this port now.
    handler.is_using = False
    handler.ser.reset_input_buffer()
    bus.disable_torque(num_retry=1)
    return [m for m in bus.motors if bus.read("Torque_Enable", m, normalize=False, num_retry=1) == 0]
