"""Serial ports of Feetech arms: which are there, who holds a busy one, and opening LeRobot's bus on one.

Every problem raises ``PortError`` with a message that names the fix (the option to pass, the program to stop, the
group to join); the command layer prints it as one line.
"""

from __future__ import annotations

import errno
import glob
import os
import termios
from pathlib import Path
from typing import TYPE_CHECKING

from so101.errors import DeviceError

if TYPE_CHECKING:
    from lerobot.motors.feetech import FeetechMotorsBus


class PortError(DeviceError):
    """The serial port is missing, busy, not permitted, or has no arm behind it."""


def serial_ports() -> list[str]:
    """Serial ports present on this machine, e.g. ``["/dev/ttyACM0"]``."""
    from serial.tools import list_ports

    found = {port.device for port in list_ports.comports()}
    found.update(glob.glob("/dev/ttyACM*") + glob.glob("/dev/ttyUSB*"))
    return sorted(found)


def processes_holding(port: str) -> list[str]:
    """Other processes with ``port`` open, as ``pid <pid> (<command line>)``, from /proc; empty without /proc."""
    target = os.path.realpath(port)
    holders = []
    for fd_dir in glob.glob("/proc/[0-9]*/fd"):
        pid = int(fd_dir.split("/")[2])
        if pid == os.getpid():
            continue
        try:
            links = [os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)]
        except OSError:  # another user's process, or it just exited
            continue
        if target in links:
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                command = "?"
            holders.append(f"pid {pid} ({command})")
    return holders


def check_port(port: str, option: str, arm: str) -> None:
    """Check that ``port`` exists, may be opened, and is held by no other process.

    Args:
        port: the serial device, e.g. ``/dev/ttyACM0``.
        option: the command-line option that sets it, named in the fix (``--leader.port``).
        arm: the arm that should be behind it, for messages (``leader``).

    Raises:
        PortError: the port is missing (the ports found are listed), not permitted, or busy (its holders named).
    """
    if not os.path.exists(port):
        found = serial_ports()
        listing = ", ".join(found) if found else f"none (is the {arm}'s USB cable plugged in?)"
        raise PortError(
            f"no serial port {port}. Serial ports found: {listing}. Pass the {arm}'s one with {option}; "
            "`lerobot-find-port` tells which one it is."
        )
    if not os.access(port, os.R_OK | os.W_OK):
        raise PortError(
            f"no permission to open {port}. On Linux add yourself to its group and log in again: "
            f"sudo usermod -aG $(stat -c %G {port}) $USER"
        )
    holders = processes_holding(port)
    if holders:
        raise PortError(
            f"{port} is busy: already open in {'; '.join(holders)}. Stop that program (or use another port) "
            "and try again."
        )


def open_bus(bus: FeetechMotorsBus, arm: str) -> None:
    """Open LeRobot's bus on its port and check that every servo answers (LeRobot's handshake).

    Raises:
        PortError: the port could not be opened or a servo did not answer; the message names the cause and fix.
    """
    try:
        bus.connect()
    except (ConnectionError, RuntimeError) as error:  # port not opened, or servos missing in the handshake
        close_quietly(bus)
        raise _port_error(bus.port, arm, error) from error


def close_quietly(bus: FeetechMotorsBus) -> None:
    """Close the bus's port without touching the servos; quiet when the device is already gone."""
    try:
        if bus.port_handler.is_open:
            bus.port_handler.closePort()
    except (OSError, termios.error):
        pass


def _port_error(port: str, arm: str, error: Exception) -> PortError:
    """Turn LeRobot's generic connection error into one that names the cause."""
    cause = error.__cause__
    if isinstance(cause, OSError) and cause.errno == errno.EBUSY:
        return PortError(f"{port} is busy: another program holds it. Stop that program and try again.")
    if isinstance(cause, OSError) and cause.errno == errno.EACCES:
        return PortError(f"no permission to open {port}; add yourself to the 'dialout' group and log in again")
    detail = " ".join(str(cause or error).split())  # LeRobot's report spans lines; messages are one line
    return PortError(
        f"no {arm} answered on {port} ({detail}). Check that the {arm}'s power supply is plugged in and "
        f"that {port} is the {arm}'s port; serial ports found: {', '.join(serial_ports()) or 'none'}."
    )
