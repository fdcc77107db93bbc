"""Protocol-level tests of the Feetech STS3215 bus emulator (``so101.teleop.feetech.emulator``, ``protocol``,
``servo``), through pyserial, scservo_sdk and LeRobot's bus."""

from __future__ import annotations

import termios

import numpy as np
import pytest
import serial

from so101.teleop.feetech.emulator import FeetechBusEmulator
from so101.teleop.feetech.protocol import PING, READ, decode_sign_magnitude, encode_sign_magnitude, instruction_packet
from so101.teleop.feetech.servo import STS3215_REGISTERS

NAMES = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")


@pytest.fixture
def emulator():
    with FeetechBusEmulator(encoders=[1000, 1500, 2000, 2500, 3000, 3500]) as emu:
        yield emu


@pytest.fixture
def bus(emulator):
    from lerobot.motors import Motor, MotorNormMode
    from lerobot.motors.feetech import FeetechMotorsBus

    motors = {name: Motor(i + 1, "sts3215", MotorNormMode.DEGREES) for i, name in enumerate(NAMES)}
    bus = FeetechMotorsBus(emulator.port, motors)
    bus.connect()  # LeRobot's handshake: pings every id and reads the firmware versions
    yield bus
    if bus.is_connected:
        bus.port_handler.closePort()


def _raw_exchange(port: str, request: bytes, reply_length: int) -> bytes:
    with serial.Serial(port, 1_000_000, timeout=0.1) as link:
        link.write(request)
        return link.read(reply_length)


def test_sign_magnitude_round_trip():
    assert encode_sign_magnitude(-100, 11) == 2048 + 100
    assert decode_sign_magnitude(2048 + 100, 11) == -100
    assert decode_sign_magnitude(encode_sign_magnitude(2047, 11), 11) == 2047
    with pytest.raises(ValueError):
        encode_sign_magnitude(2048, 11)


def test_raw_read_reply_bytes(emulator):
    # Present_Position (56, 2 bytes) of servo 3 at encoder 2000 = 0x07D0, little-endian.
    reply = _raw_exchange(emulator.port, instruction_packet(3, READ, bytes([56, 2])), 8)
    body = bytes([3, 4, 0, 0xD0, 0x07])
    assert reply == b"\xff\xff" + body + bytes([~sum(body) & 0xFF])


def test_request_with_bad_checksum_is_ignored(emulator):
    request = bytearray(instruction_packet(1, PING))
    request[-1] ^= 0x55
    assert _raw_exchange(emulator.port, bytes(request), 6) == b""
    assert emulator.counters.bad_requests == 1
    assert _raw_exchange(emulator.port, instruction_packet(1, PING), 6)[:5] == b"\xff\xff\x01\x02\x00"


def test_sdk_ping_and_read_model_number(emulator):
    import scservo_sdk as scs

    port = scs.PortHandler(emulator.port)
    assert port.openPort()
    packets = scs.PacketHandler(0)
    try:
        for servo_id in emulator.ids:
            model, comm, error = packets.ping(port, servo_id)
            assert (model, comm, error) == (777, scs.COMM_SUCCESS, 0)
        _, comm, _ = packets.ping(port, 42)
        assert comm == scs.COMM_RX_TIMEOUT
    finally:
        port.closePort()


def test_broadcast_ping_finds_every_servo(bus):
    assert bus.broadcast_ping() == dict.fromkeys(range(1, 7), 777)


def test_read_write_and_homing_offset_sign_magnitude(bus, emulator):
    assert bus.read("Present_Position", "elbow_flex", normalize=False) == 2000
    bus.write("Homing_Offset", "elbow_flex", -100)  # LeRobot encodes it with the sign in bit 11
    assert emulator.register(3, "Homing_Offset") == -100
    assert bus.read("Homing_Offset", "elbow_flex", normalize=False) == -100
    # The real servo reports the encoder shifted by the offset: present = encoder - offset (mod 4096).
    assert bus.read("Present_Position", "elbow_flex", normalize=False) == 2100
    emulator.set_encoder(3, 4050)
    assert bus.read("Present_Position", "elbow_flex", normalize=False) == (4050 + 100) % 4096


def test_read_only_registers_ignore_writes(bus, emulator):
    bus.packet_handler.write2ByteTxRx(bus.port_handler, 1, STS3215_REGISTERS["Model_Number"].address, 1234)
    assert emulator.register(1, "Model_Number") == 777


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def wait_served(bus) -> None:
    """A sync write has no reply; a read behind it returns once the emulator has applied it."""
    bus.read("ID", "shoulder_pan", normalize=False)


def test_sync_write_moves_torqued_servos_at_servo_speed_and_sync_read_reports_them():
    from lerobot.motors import Motor, MotorNormMode
    from lerobot.motors.feetech import FeetechMotorsBus

    from so101.teleop.feetech.servo import MAX_SPEED_TICKS_S

    clock = FakeClock()
    with FeetechBusEmulator(encoders=[1000, 1500, 2000, 2500, 3000, 3500], clock=clock) as emulator:
        motors = {name: Motor(i + 1, "sts3215", MotorNormMode.DEGREES) for i, name in enumerate(NAMES)}
        bus = FeetechMotorsBus(emulator.port, motors)
        bus.connect()
        try:
            bus.write("Max_Position_Limit", "gripper", 3000)
            bus.sync_write("Goal_Position", dict.fromkeys(NAMES, 2048), normalize=False)
            wait_served(bus)
            clock.now = 10.0
            assert emulator.encoder(1) == 1000  # torque off: a goal is stored, the shaft stays
            bus.enable_torque()
            clock.now = 20.0
            assert emulator.encoder(1) == 1000  # enabling torque holds the shaft where it is
            goals = dict(zip(NAMES, (100, 4000, 2047, 0, 1, 3900), strict=True))
            bus.sync_write("Goal_Position", goals, normalize=False)
            wait_served(bus)
            clock.now += 0.1
            assert emulator.encoder(1) == 1000 - round(0.1 * MAX_SPEED_TICKS_S)  # on its way at servo speed
            assert emulator.register(1, "Moving") == 1
            clock.now += 2.0
            positions = bus.sync_read("Present_Position", normalize=False)
            assert positions == {**goals, "gripper": 3000}  # the goal is clamped to the position limits
            assert emulator.encoder(1) == 100 and emulator.register(1, "Moving") == 0
            bus.disable_torque()
            bus.sync_write("Goal_Position", dict.fromkeys(NAMES, 2048), normalize=False)
            wait_served(bus)
            clock.now += 2.0
            assert emulator.encoder(1) == 100  # torque released: no motion
        finally:
            bus.port_handler.closePort()


def test_setup_motor_changes_id_and_configure_writes_eprom():
    # LeRobot's motor setup: a lone servo found by broadcast ping gets its id and baud rate written.
    from lerobot.motors import Motor, MotorNormMode
    from lerobot.motors.feetech import FeetechMotorsBus

    with FeetechBusEmulator(ids=[1]) as lone:
        bus = FeetechMotorsBus(lone.port, {"gripper": Motor(6, "sts3215", MotorNormMode.RANGE_0_100)})
        bus.setup_motor("gripper")
        assert lone.ids == (6,)
        bus.configure_motors()
        assert lone.register(6, "Return_Delay_Time") == 0
        assert lone.register(6, "Maximum_Acceleration") == 254
        bus.port_handler.closePort()


def test_corrupted_reply_fails_one_sync_read_only(bus, emulator):
    emulator.corrupt_next_replies(1)
    with pytest.raises(ConnectionError, match="Incorrect status packet"):
        bus.sync_read("Present_Position", normalize=False)
    assert emulator.counters.corrupted == 1
    assert bus.sync_read("Present_Position", normalize=False)["wrist_roll"] == 3000
    assert emulator.counters.requests["sync_read"] == 2


def test_dropped_reply_times_out(bus, emulator):
    emulator.drop_next_replies(1)
    with pytest.raises(ConnectionError, match="no status packet"):
        bus.read("Present_Position", "gripper", normalize=False)
    assert emulator.counters.dropped == 1
    assert bus.read("Present_Position", "gripper", normalize=False) == 3500


def test_trajectory_samples_follow_the_clock(bus):
    now = [0.0]
    with FeetechBusEmulator(clock=lambda: now[0]) as emu:
        bus.port_handler.closePort()
        bus.port_handler.setPortName(emu.port)
        bus.port_handler.openPort()
        samples = np.array([[100 * (k + 1)] * 6 for k in range(3)])
        emu.play(samples, units=("ticks",) * 6, rate_hz=10.0)
        seen = []
        for t in (0.0, 0.15, 0.25, 5.0):
            now[0] = t
            seen.append(bus.sync_read("Present_Position", normalize=False)["shoulder_pan"])
        assert seen == [100, 200, 300, 300]
        emu.play(lambda t: [1000 + 10 * t] * 6, units=("ticks",) * 6)
        now[0] = 7.0
        assert bus.read("Present_Position", "gripper", normalize=False) == 1020


def test_unplug_breaks_the_client(bus, emulator):
    emulator.unplug()
    # A device error (as when a USB adapter vanishes), not LeRobot's ConnectionError for a bad reply.
    with pytest.raises((termios.error, serial.SerialException)):
        bus.sync_read("Present_Position", normalize=False)
