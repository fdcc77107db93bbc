"""Serial ports of Feetech arms: listing, the holder of a busy port, and LeRobot's bus opened with clear errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from so101.errors import So101Error
from so101.teleop.feetech import ports
from so101.teleop.feetech.emulator import FeetechBusEmulator
from so101.teleop.feetech.ports import PortError, check_port, open_bus, processes_holding


@pytest.fixture
def emulator():
    with FeetechBusEmulator() as emu:
        yield emu


def lerobot_bus(port: str):
    from lerobot.motors import Motor, MotorNormMode
    from lerobot.motors.feetech import FeetechMotorsBus

    names = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
    motors = {name: Motor(i + 1, "sts3215", MotorNormMode.DEGREES) for i, name in enumerate(names)}
    return FeetechMotorsBus(port, motors)


def test_missing_port_lists_the_ports_found_and_names_the_option(monkeypatch):
    monkeypatch.setattr(ports, "serial_ports", lambda: ["/dev/ttyACM3", "/dev/ttyUSB0"])
    with pytest.raises(PortError) as error:
        check_port("/dev/ttyNOPE1", "--follower.port", "follower arm")
    message = str(error.value)
    assert message.startswith("no serial port /dev/ttyNOPE1. Serial ports found: /dev/ttyACM3, /dev/ttyUSB0.")
    assert "with --follower.port" in message and isinstance(error.value, So101Error)
    monkeypatch.setattr(ports, "serial_ports", list)
    with pytest.raises(PortError, match="none \\(is the leader arm's USB cable plugged in\\?\\)"):
        check_port("/dev/ttyNOPE1", "--leader.port", "leader arm")


def test_port_without_permission_names_the_group_fix(emulator, monkeypatch):
    monkeypatch.setattr(ports.os, "access", lambda path, mode: False)
    with pytest.raises(PortError, match=rf"no permission to open {emulator.port}.*usermod -aG"):
        check_port(emulator.port, "--leader.port", "leader arm")


def test_busy_port_names_the_holding_process_and_not_this_one(emulator):
    assert processes_holding(emulator.port) == []
    held = os.open(emulator.port, os.O_RDWR | os.O_NOCTTY)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdin=held)
    try:
        holders = processes_holding(emulator.port)  # this process holds it too, but is not named
        assert holders == [f"pid {other.pid} ({sys.executable} -c import time; time.sleep(30))"]
        with pytest.raises(PortError, match=rf"{emulator.port} is busy: already open in pid {other.pid} "):
            check_port(emulator.port, "--leader.port", "leader arm")
    finally:
        os.close(held)
        other.kill()
        other.wait()
    check_port(emulator.port, "--leader.port", "leader arm")


def test_open_bus_connects_and_a_missing_servo_is_a_port_error(emulator):
    bus = lerobot_bus(emulator.port)
    open_bus(bus, "leader arm")
    assert bus.is_connected
    ports.close_quietly(bus)
    assert not bus.port_handler.is_open
    with FeetechBusEmulator(ids=[1, 2, 3, 4, 5]) as five:
        bus = lerobot_bus(five.port)
        with pytest.raises(PortError, match=rf"no follower arm answered on {five.port} .*power supply"):
            open_bus(bus, "follower arm")
        assert not bus.port_handler.is_open
