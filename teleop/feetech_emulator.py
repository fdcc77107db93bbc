"""Emulator of a bus of Feetech STS3215 servos behind a USB serial adapter, served on a pseudo-terminal.

The emulator answers Feetech's protocol 0 (the protocol of the STS/SMS series) on the master side of a
pseudo-terminal; any serial client (pyserial, Feetech's ``scservo_sdk``, LeRobot's ``FeetechMotorsBus``)
opens the slave path, ``FeetechBusEmulator.port``, as it would open ``/dev/ttyACM0``.

Packets (all multi-byte fields little-endian, checksum = ~(sum of the bytes after the header) & 0xFF)::

    instruction: 0xFF 0xFF  id  length  instruction  params...  checksum     length = len(params) + 2
    status:      0xFF 0xFF  id  length  error        params...  checksum     length = len(params) + 2

Served instructions: ping (0x01, also on the broadcast id 0xFE, where every servo answers), read (0x02),
write (0x03, silent on the broadcast id), sync read (0x82) and sync write (0x83). Each servo is a 256-byte
memory laid out like the STS3215's (``STS3215_REGISTERS``): reads return any span of it, writes change
every byte outside the read-only registers.

The position model follows the real servo. Each servo has a physical encoder angle in ticks (0..4095,
4096 per turn); the ``Present_Position`` register reports it shifted by the homing offset,
``present = (encoder - homing_offset) mod 4096``, where ``Homing_Offset`` is sign-magnitude with its sign in
bit 11. With torque on, a written ``Goal_Position`` (in the same shifted frame, clamped to the position
limits) moves the encoder there at once. Tests move the encoder by hand (``set_encoder``) or play a
trajectory given in ticks or in LeRobot's calibrated units (``play``).

Timing: the emulator answers as soon as a request is complete; it does not model baud rates or the
servos' return delay.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time
import tty
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

TICKS_PER_TURN = 4096
"""Encoder resolution of the STS3215 (12 bits per turn)."""

BROADCAST_ID = 0xFE
SO101_IDS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
"""Servo ids of an SO-100/SO-101 arm, shoulder_pan .. gripper."""

PING, READ, WRITE, SYNC_READ, SYNC_WRITE = 0x01, 0x02, 0x03, 0x82, 0x83
INSTRUCTION_NAMES = {PING: "ping", READ: "read", WRITE: "write", SYNC_READ: "sync_read", SYNC_WRITE: "sync_write"}

MEMORY_SIZE = 256


@dataclass(frozen=True)
class Register:
    """One entry of the servo's control table.

    Attributes:
        address: first byte in the servo's memory.
        size: length in bytes (1 or 2; 2-byte values are little-endian).
        writable: False for registers the servo itself maintains (writes to them are ignored).
        sign_bit: for signed registers, the bit that holds the sign in Feetech's sign-magnitude encoding.
        default: the factory value.
    """

    address: int
    size: int
    writable: bool = True
    sign_bit: int | None = None
    default: int = 0


# The STS3215 memory map with typical factory values of a 7.4 V servo. EPROM: 0..39; SRAM: 40..; the
# "factory" block at 80.. is what Feetech's tools show as the servo's tuning parameters.
STS3215_REGISTERS: dict[str, Register] = {
    "Firmware_Major_Version": Register(0, 1, writable=False, default=3),
    "Firmware_Minor_Version": Register(1, 1, writable=False, default=10),
    "Model_Number": Register(3, 2, writable=False, default=777),
    "ID": Register(5, 1, default=1),
    "Baud_Rate": Register(6, 1, default=0),  # 0 = 1 Mbit/s
    "Return_Delay_Time": Register(7, 1, default=250),  # units of 2 us
    "Response_Status_Level": Register(8, 1, default=1),  # 0: answer only reads and pings
    "Min_Position_Limit": Register(9, 2, default=0),
    "Max_Position_Limit": Register(11, 2, default=TICKS_PER_TURN - 1),
    "Max_Temperature_Limit": Register(13, 1, default=70),  # degC
    "Max_Voltage_Limit": Register(14, 1, default=80),  # 0.1 V
    "Min_Voltage_Limit": Register(15, 1, default=40),  # 0.1 V
    "Max_Torque_Limit": Register(16, 2, default=1000),  # 0.1 %
    "Phase": Register(18, 1, default=12),
    "Unloading_Condition": Register(19, 1, default=44),
    "LED_Alarm_Condition": Register(20, 1, default=47),
    "P_Coefficient": Register(21, 1, default=32),
    "D_Coefficient": Register(22, 1, default=32),
    "I_Coefficient": Register(23, 1, default=0),
    "Minimum_Startup_Force": Register(24, 2, default=16),
    "CW_Dead_Zone": Register(26, 1, default=1),
    "CCW_Dead_Zone": Register(27, 1, default=1),
    "Protection_Current": Register(28, 2, default=500),
    "Angular_Resolution": Register(30, 1, default=1),
    "Homing_Offset": Register(31, 2, sign_bit=11, default=0),
    "Operating_Mode": Register(33, 1, default=0),  # 0 position, 1 velocity, 2 PWM, 3 step
    "Protective_Torque": Register(34, 1, default=20),
    "Protection_Time": Register(35, 1, default=200),
    "Overload_Torque": Register(36, 1, default=80),
    "Velocity_closed_loop_P_proportional_coefficient": Register(37, 1, default=10),
    "Over_Current_Protection_Time": Register(38, 1, default=200),
    "Velocity_closed_loop_I_integral_coefficient": Register(39, 1, default=200),
    "Torque_Enable": Register(40, 1, default=0),
    "Acceleration": Register(41, 1, default=0),
    "Goal_Position": Register(42, 2, sign_bit=15, default=0),
    "Goal_Time": Register(44, 2, default=0),
    "Goal_Velocity": Register(46, 2, sign_bit=15, default=0),
    "Torque_Limit": Register(48, 2, default=1000),
    "Lock": Register(55, 1, default=1),
    "Present_Position": Register(56, 2, writable=False, sign_bit=15),
    "Present_Velocity": Register(58, 2, writable=False, sign_bit=15),
    "Present_Load": Register(60, 2, writable=False, sign_bit=10),
    "Present_Voltage": Register(62, 1, writable=False, default=74),  # 0.1 V
    "Present_Temperature": Register(63, 1, writable=False, default=30),  # degC
    "Status": Register(65, 1, writable=False),
    "Moving": Register(66, 1, writable=False),
    "Present_Current": Register(69, 2, writable=False),
    "Moving_Velocity_Threshold": Register(80, 1, default=2),
    "DTs": Register(81, 1, default=20),  # ms
    "Velocity_Unit_factor": Register(82, 1, default=1),
    "Hts": Register(83, 1, default=0),
    "Maximum_Velocity_Limit": Register(84, 1, default=254),
    "Maximum_Acceleration": Register(85, 1, default=254),
    "Acceleration_Multiplier": Register(86, 1, default=0),
}

_READ_ONLY_BYTES = frozenset(
    address
    for register in STS3215_REGISTERS.values()
    if not register.writable
    for address in range(register.address, register.address + register.size)
)

Unit = Literal["ticks", "degrees", "range_0_100", "range_m100_100"]
"""How a trajectory gives a servo's position.

``ticks``: the raw encoder angle (0..4095), before the homing offset. The others are LeRobot's calibrated
units, inverted through the servo's current ``Homing_Offset`` and position limits so that LeRobot,
calibrated with those same values, reads the trajectory back: ``degrees`` (0 at the middle of the limits,
360 per 4095 ticks), ``range_0_100`` and ``range_m100_100`` (the limits mapped linearly).
"""

SO101_UNITS: tuple[Unit, ...] = ("degrees",) * 5 + ("range_0_100",)
"""The units of LeRobot's SO-101 leader and follower: degrees for the body joints, 0..100 for the gripper."""

Trajectory = Callable[[float], Sequence[float]] | np.ndarray
"""A callable of the time since ``play`` (s) returning one value per servo, or samples of shape (T, n_servos)."""


def encode_sign_magnitude(value: int, sign_bit: int) -> int:
    """Feetech's signed encoding: magnitude in the bits below ``sign_bit``, sign in ``sign_bit``."""
    magnitude = abs(value)
    if magnitude >= 1 << sign_bit:
        raise ValueError(f"{value} does not fit a sign-magnitude field with its sign in bit {sign_bit}")
    return magnitude | ((value < 0) << sign_bit)


def decode_sign_magnitude(raw: int, sign_bit: int) -> int:
    """Inverse of ``encode_sign_magnitude``."""
    magnitude = raw & ((1 << sign_bit) - 1)
    return -magnitude if raw >> sign_bit & 1 else magnitude


def checksum(body: bytes | bytearray) -> int:
    """Feetech checksum of the bytes between the 0xFF 0xFF header and the checksum byte."""
    return ~sum(body) & 0xFF


def instruction_packet(servo_id: int, instruction: int, params: bytes = b"") -> bytes:
    """Encode an instruction packet (what a host sends), e.g. to talk to the emulator with raw pyserial."""
    body = bytes([servo_id, len(params) + 2, instruction]) + params
    return b"\xff\xff" + body + bytes([checksum(body)])


@dataclass
class BusCounters:
    """What the emulator has seen and done since it started; every field counts packets."""

    requests: Counter[str] = field(default_factory=Counter)
    """Well-formed instruction packets received, by instruction name (``ping``, ``sync_read``, ...)."""
    bad_requests: int = 0
    """Instruction packets dropped for a bad checksum or an unknown instruction."""
    replies: int = 0
    """Status packets sent intact (a sync read of six servos sends six)."""
    corrupted: int = 0
    """Status packets sent with a wrong checksum (``corrupt_next_replies``)."""
    dropped: int = 0
    """Status packets withheld (``drop_next_replies``)."""
    delayed: int = 0
    """Answers sent late (``delay_next_answers``); an answer is all the status packets of one request."""


class _Servo:
    """One STS3215: its memory and its physical encoder angle."""

    def __init__(self, servo_id: int, encoder: int) -> None:
        self.memory = bytearray(MEMORY_SIZE)
        for name, register in STS3215_REGISTERS.items():
            self.set(name, register.default)
        self.set("ID", servo_id)
        self.encoder = encoder % TICKS_PER_TURN
        self.set("Goal_Position", self.present_position())

    def get(self, name: str) -> int:
        register = STS3215_REGISTERS[name]
        raw = int.from_bytes(self.memory[register.address : register.address + register.size], "little")
        return decode_sign_magnitude(raw, register.sign_bit) if register.sign_bit is not None else raw

    def set(self, name: str, value: int) -> None:
        register = STS3215_REGISTERS[name]
        raw = encode_sign_magnitude(value, register.sign_bit) if register.sign_bit is not None else value
        self.memory[register.address : register.address + register.size] = raw.to_bytes(register.size, "little")

    def present_position(self) -> int:
        return (self.encoder - self.get("Homing_Offset")) % TICKS_PER_TURN

    def encoder_for(self, value: float, unit: Unit) -> int:
        """The encoder angle (ticks) at which LeRobot, calibrated like this servo, reads ``value``."""
        if unit == "ticks":
            return round(value) % TICKS_PER_TURN
        low, high = self.get("Min_Position_Limit"), self.get("Max_Position_Limit")
        if unit == "degrees":
            # LeRobot scales degrees by 4095 ticks per turn, not 4096; inverting its formula keeps readings exact.
            present = (low + high) / 2 + value * (TICKS_PER_TURN - 1) / 360.0
        elif unit == "range_0_100":
            present = low + value / 100.0 * (high - low)
        elif unit == "range_m100_100":
            present = low + (value + 100.0) / 200.0 * (high - low)
        else:
            raise ValueError(f"unknown unit {unit!r}; use one of {get_args(Unit)}")
        return (round(present) + self.get("Homing_Offset")) % TICKS_PER_TURN

    def refresh(self) -> None:
        """Update the read-only registers from the encoder before a read."""
        self.set("Present_Position", self.present_position())

    def write(self, address: int, data: bytes) -> None:
        for i, byte in enumerate(data):
            if address + i < MEMORY_SIZE and address + i not in _READ_ONLY_BYTES:
                self.memory[address + i] = byte
        goal = STS3215_REGISTERS["Goal_Position"]
        if self.get("Torque_Enable") and address < goal.address + goal.size and address + len(data) > goal.address:
            self._move_to_goal()

    def _move_to_goal(self) -> None:
        goal = self.get("Goal_Position")
        low, high = self.get("Min_Position_Limit"), self.get("Max_Position_Limit")
        if low < high:  # a 0..0 range means "no limits" on Feetech servos
            goal = min(max(goal, low), high)
        self.encoder = (goal + self.get("Homing_Offset")) % TICKS_PER_TURN


class FeetechBusEmulator:
    """A bus of STS3215 servos on a pseudo-terminal, served by a background thread.

    Example::

        with FeetechBusEmulator() as bus:
            leader = SO101Leader(SO101LeaderConfig(port=bus.port, id="test"))
            bus.play(lambda t: [10 * t, 0, 0, 0, 0, 50])  # degrees, gripper 0..100

    Args:
        ids: the servo ids on the bus (default: an SO-101 arm's 1..6).
        encoders: initial encoder angles (ticks), one per id; default: mid-turn, 2048.
        clock: time source (s) for trajectories; tests pass a fake one to step time by hand.
    """

    def __init__(
        self,
        ids: Sequence[int] = SO101_IDS,
        encoders: Sequence[int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        encoders = [TICKS_PER_TURN // 2] * len(ids) if encoders is None else list(encoders)
        if len(encoders) != len(ids):
            raise ValueError(f"need one initial encoder angle per servo id: {len(ids)} ids, {len(encoders)} angles")
        # Servos in bus order: sync reads answer in the order of the request, but trajectories use this one.
        self._servos: list[_Servo] = [_Servo(i, e) for i, e in zip(ids, encoders, strict=True)]
        self._clock = clock
        self._lock = threading.Lock()
        self._trajectory: Trajectory | None = None
        self._trajectory_units: tuple[Unit, ...] = ()
        self._trajectory_rate_hz = 0.0
        self._trajectory_start = 0.0
        self._corrupt_next = 0
        self._drop_next = 0
        self._delay_next = 0
        self._delay_s = 0.0
        self.counters = BusCounters()
        self._master, slave = os.openpty()
        # Raw mode before any client opens the slave: no echo, no newline translation, 8-bit clean. The
        # emulator then lets go of the slave so that, like a USB adapter, only its client holds the device.
        tty.setraw(slave)
        self._port = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(self._master, False)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="feetech-bus-emulator", daemon=True)
        self._closed = False

    @property
    def port(self) -> str:
        """Path of the serial device to open, e.g. ``/dev/pts/5``."""
        return self._port

    @property
    def ids(self) -> tuple[int, ...]:
        """Servo ids in bus order (the order of ``play`` and ``encoders``)."""
        with self._lock:
            return tuple(servo.get("ID") for servo in self._servos)

    def start(self) -> FeetechBusEmulator:
        """Start serving requests; returns self."""
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the pseudo-terminal; a client still holding the port gets I/O errors."""
        if self._closed:
            return
        self._closed = True
        os.write(self._wake_w, b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        for fd in (self._master, self._wake_r, self._wake_w):
            os.close(fd)

    def unplug(self) -> None:
        """Fault injection: the USB cable is pulled. The client's next read or write fails."""
        self.close()

    def __enter__(self) -> FeetechBusEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scripting -------------------------------------------------------------------------------------

    def set_encoder(self, servo_id: int, ticks: int) -> None:
        """Put a servo's physical encoder at ``ticks`` (0..4095, before the homing offset); stops ``play``."""
        with self._lock:
            self._trajectory = None
            self._servo(servo_id).encoder = ticks % TICKS_PER_TURN

    def encoder(self, servo_id: int) -> int:
        """A servo's physical encoder angle (ticks), as last moved by a script or a goal."""
        with self._lock:
            self._apply_trajectory()
            return self._servo(servo_id).encoder

    def set_register(self, servo_id: int, name: str, value: int) -> None:
        """Set a register as the servo would store it (signed registers take signed values), read-only ones too."""
        with self._lock:
            self._servo(servo_id).set(name, value)

    def register(self, servo_id: int, name: str) -> int:
        """Read a register by its ``STS3215_REGISTERS`` name (signed registers decoded)."""
        with self._lock:
            self._apply_trajectory()
            servo = self._servo(servo_id)
            servo.refresh()
            return servo.get(name)

    def play(
        self,
        trajectory: Trajectory,
        units: Sequence[Unit] = SO101_UNITS,
        rate_hz: float = 30.0,
    ) -> None:
        """Move the servos along a trajectory, as a hand moves a leader arm, from now on.

        Args:
            trajectory: a callable of the time since this call (s) returning one value per servo in bus
                order, or an array of samples (T, n_servos) played at ``rate_hz`` and held at the last one.
            units: the unit of each servo's values (see ``Unit``); calibrated units are converted with the
                servo's registers at each read, so calibrate before playing them.
            rate_hz: sample rate of an array trajectory (Hz).
        """
        n = len(self._servos)
        if len(units) != n:
            raise ValueError(f"need one unit per servo ({n}), got {len(units)}")
        if not callable(trajectory):
            trajectory = np.asarray(trajectory, dtype=np.float64)
            if trajectory.ndim != 2 or trajectory.shape[1] != n or len(trajectory) == 0:
                raise ValueError(f"trajectory samples need shape (T, {n}), got {trajectory.shape}")
        with self._lock:
            self._trajectory = trajectory
            self._trajectory_units = tuple(units)
            self._trajectory_rate_hz = rate_hz
            self._trajectory_start = self._clock()

    def stop(self) -> None:
        """Stop a trajectory; the servos stay where it left them."""
        with self._lock:
            self._apply_trajectory()
            self._trajectory = None

    # -- fault injection -------------------------------------------------------------------------------

    def corrupt_next_replies(self, n: int) -> None:
        """Send the next ``n`` status packets with a wrong checksum."""
        with self._lock:
            self._corrupt_next += n

    def drop_next_replies(self, n: int) -> None:
        """Withhold the next ``n`` status packets (the client times out)."""
        with self._lock:
            self._drop_next += n

    def delay_next_answers(self, n: int, seconds: float) -> None:
        """Send the answers to the next ``n`` requests ``seconds`` late, as a stalled USB adapter does: a client
        that timed out finds them in its input buffer later. Requests behind a late answer wait for it."""
        with self._lock:
            self._delay_next += n
            self._delay_s = seconds

    # -- serving ---------------------------------------------------------------------------------------

    def _servo(self, servo_id: int) -> _Servo:
        for servo in self._servos:
            if servo.get("ID") == servo_id:
                return servo
        raise KeyError(f"no servo with id {servo_id} on the bus; ids: {[s.get('ID') for s in self._servos]}")

    def _apply_trajectory(self) -> None:
        if self._trajectory is None:
            return
        t = self._clock() - self._trajectory_start
        if callable(self._trajectory):
            values = np.asarray(self._trajectory(t), dtype=np.float64)
        else:
            index = min(max(int(t * self._trajectory_rate_hz), 0), len(self._trajectory) - 1)
            values = self._trajectory[index]
        for servo, value, unit in zip(self._servos, values, self._trajectory_units, strict=True):
            servo.encoder = servo.encoder_for(float(value), unit)

    def _serve(self) -> None:
        buffer = bytearray()
        no_client = False
        while True:
            # While no client has the slave open, the master reads EIO at once: poll then instead of spinning.
            watched = [self._wake_r] if no_client else [self._master, self._wake_r]
            ready, _, _ = select.select(watched, [], [], 0.002 if no_client else None)
            if self._wake_r in ready:
                return
            try:
                buffer += os.read(self._master, 4096)
            except BlockingIOError:  # a client is there but has not written yet
                no_client = False
                continue
            except OSError as error:
                if error.errno != errno.EIO:
                    raise
                no_client = True
                buffer.clear()
                continue
            no_client = False
            for packet in _split_packets(buffer, self.counters):
                reply = self._handle(packet)
                if reply and self._delay_next:
                    with self._lock:
                        self._delay_next -= 1
                        self.counters.delayed += 1
                    time.sleep(self._delay_s)
                if reply:
                    try:
                        os.write(self._master, reply)
                    except OSError:  # the client closed the port before its answer came
                        buffer.clear()

    def _handle(self, packet: bytes) -> bytes:
        servo_id, instruction, params = packet[2], packet[4], packet[5:-1]
        name = INSTRUCTION_NAMES.get(instruction)
        if name is None:
            self.counters.bad_requests += 1
            return b""
        self.counters.requests[name] += 1
        with self._lock:
            self._apply_trajectory()
            if instruction == SYNC_WRITE:
                self._sync_write(params)
                return b""
            if instruction == SYNC_READ:
                address, length = params[0], params[1]
                servos = [s for i in params[2:] for s in self._servos if s.get("ID") == i]
                return b"".join(self._reply(s, self._read(s, address, length)) for s in servos)
            targets = self._servos if servo_id == BROADCAST_ID else [s for s in self._servos if s.get("ID") == servo_id]
            replies = []
            for servo in targets:
                if instruction == PING:
                    replies.append(self._reply(servo))
                elif instruction == READ:
                    replies.append(self._reply(servo, self._read(servo, params[0], params[1])))
                elif instruction == WRITE:
                    silent = servo_id == BROADCAST_ID or servo.get("Response_Status_Level") == 0
                    # The status of a write that changes the id still carries the id it was addressed to.
                    replying_id = servo.get("ID")
                    servo.write(params[0], params[1:])
                    if not silent:
                        replies.append(self._reply(servo, replying_id=replying_id))
            return b"".join(replies)

    def _sync_write(self, params: bytes) -> None:
        address, length = params[0], params[1]
        stride = length + 1
        for offset in range(2, len(params) - stride + 1, stride):
            for servo in self._servos:
                if servo.get("ID") == params[offset]:
                    servo.write(address, params[offset + 1 : offset + stride])

    def _read(self, servo: _Servo, address: int, length: int) -> bytes:
        servo.refresh()
        return bytes(servo.memory[address : address + length]).ljust(length, b"\x00")

    def _reply(self, servo: _Servo, params: bytes = b"", replying_id: int | None = None) -> bytes:
        if self._drop_next:
            self._drop_next -= 1
            self.counters.dropped += 1
            return b""
        body = bytes([servo.get("ID") if replying_id is None else replying_id, len(params) + 2, 0]) + params
        check = checksum(body)
        if self._corrupt_next:
            self._corrupt_next -= 1
            self.counters.corrupted += 1
            check ^= 0xFF
        else:
            self.counters.replies += 1
        return b"\xff\xff" + body + bytes([check])


def _split_packets(buffer: bytearray, counters: BusCounters) -> list[bytes]:
    """Take the complete instruction packets out of ``buffer``, dropping noise and bad checksums."""
    packets = []
    while True:
        start = buffer.find(b"\xff\xff")
        if start < 0:
            # Keep a trailing 0xFF: it may be the first half of the next header.
            del buffer[: max(len(buffer) - 1, 0)]
            return packets
        # Skip repeated 0xFF so the id byte is the first one that is not a header byte.
        while start + 2 < len(buffer) and buffer[start + 2] == 0xFF:
            start += 1
        del buffer[:start]
        if len(buffer) < 4:
            return packets
        end = 4 + buffer[3]
        if len(buffer) < end:
            return packets
        packet = bytes(buffer[:end])
        del buffer[:end]
        if packet[3] < 2 or packet[-1] != checksum(packet[2:-1]):
            counters.bad_requests += 1
            continue
        packets.append(packet)
