"""One Feetech STS3215 servo as the bus sees it: a 256-byte register memory and a physical encoder angle.

The memory is laid out like the STS3215's (``STS3215_REGISTERS``): reads return any span of it, writes change every
byte outside the read-only registers.

The position model follows the real servo. The encoder angle is in ticks (0..4095, 4096 per turn); the
``Present_Position`` register reports it shifted by the homing offset, ``present = (encoder - homing_offset) mod
4096``, where ``Homing_Offset`` is sign-magnitude with its sign in bit 11. With torque on, a written
``Goal_Position`` (in the same shifted frame, clamped to the position limits) moves the encoder toward it at the
servo's speed (``Goal_Velocity`` ticks/s when set, else ``MAX_SPEED_TICKS_S``), advanced whenever the servo is
read; ``Moving`` is 1 until it arrives. Enabling torque holds the shaft where it is (the goal becomes the present
position, as the firmware does); with torque off a goal is stored but the shaft does not move.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from so101.teleop.feetech.protocol import decode_sign_magnitude, encode_sign_magnitude

TICKS_PER_TURN = 4096
"""Encoder resolution of the STS3215 (12 bits per turn)."""

MEMORY_SIZE = 256
"""Bytes of a servo's register memory."""

MAX_SPEED_TICKS_S = 3000.0
"""No-load speed of an STS3215 at 7.4 V (0.222 s per 60 degrees, about 264 degrees/s), in ticks per second."""


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
"""How a script gives a servo's position.

``ticks``: the raw encoder angle (0..4095), before the homing offset. The others are LeRobot's calibrated units,
inverted through the servo's current ``Homing_Offset`` and position limits so that LeRobot, calibrated with those
same values, reads the position back: ``degrees`` (0 at the middle of the limits, 360 per 4095 ticks),
``range_0_100`` and ``range_m100_100`` (the limits mapped linearly).
"""

SO101_UNITS: tuple[Unit, ...] = ("degrees",) * 5 + ("range_0_100",)
"""The units of LeRobot's SO-101 leader and follower: degrees for the body joints, 0..100 for the gripper."""


class Servo:
    """One STS3215: its register memory and its physical encoder angle.

    Args:
        servo_id: the bus id (the ``ID`` register).
        encoder: the initial encoder angle (ticks).
        clock: time source (s) of the motion toward a goal.
    """

    def __init__(self, servo_id: int, encoder: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._goal: int | None = None
        self._moved_at = clock()
        self.memory = bytearray(MEMORY_SIZE)
        for name, register in STS3215_REGISTERS.items():
            self.set(name, register.default)
        self.set("ID", servo_id)
        self.encoder = encoder % TICKS_PER_TURN
        """The physical angle of the output shaft (ticks, 0..4095), before the homing offset."""
        self.set("Goal_Position", self.present_position())

    @property
    def id(self) -> int:
        return self.get("ID")

    def get(self, name: str) -> int:
        """A register's value by its ``STS3215_REGISTERS`` name (signed registers decoded)."""
        register = STS3215_REGISTERS[name]
        raw = int.from_bytes(self.memory[register.address : register.address + register.size], "little")
        return decode_sign_magnitude(raw, register.sign_bit) if register.sign_bit is not None else raw

    def set(self, name: str, value: int) -> None:
        """Store a register's value as the servo would (signed registers encoded), read-only ones too."""
        register = STS3215_REGISTERS[name]
        raw = encode_sign_magnitude(value, register.sign_bit) if register.sign_bit is not None else value
        self.memory[register.address : register.address + register.size] = raw.to_bytes(register.size, "little")

    def present_position(self) -> int:
        """The encoder angle shifted by the homing offset (ticks): what ``Present_Position`` reports."""
        return (self.encoder - self.get("Homing_Offset")) % TICKS_PER_TURN

    def encoder_for(self, value: float, unit: Unit) -> int:
        """The encoder angle (ticks) at which LeRobot, calibrated like this servo, reads ``value`` in ``unit``."""
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

    def value(self, unit: Unit) -> float:
        """The position LeRobot, calibrated like this servo, reads in ``unit`` (the inverse of ``encoder_for``)."""
        present = self.present_position()
        if unit == "ticks":
            return float(self.encoder)
        low, high = self.get("Min_Position_Limit"), self.get("Max_Position_Limit")
        if unit == "degrees":
            return (present - (low + high) / 2) * 360.0 / (TICKS_PER_TURN - 1)
        if unit == "range_0_100":
            return (present - low) / (high - low) * 100.0
        if unit == "range_m100_100":
            return (present - low) / (high - low) * 200.0 - 100.0
        raise ValueError(f"unknown unit {unit!r}; use one of {get_args(Unit)}")

    def refresh(self) -> None:
        """Bring the registers the servo maintains up to date with the encoder (before any read of them)."""
        self.advance()
        self.set("Present_Position", self.present_position())
        self.set("Moving", int(self._goal is not None))

    def advance(self) -> None:
        """Move the shaft toward its goal for the time elapsed since the last call, at the servo's speed."""
        now = self._clock()
        elapsed, self._moved_at = now - self._moved_at, now
        if self._goal is None:
            return
        speed = self.get("Goal_Velocity") or MAX_SPEED_TICKS_S
        present = self.present_position()
        remaining = self._goal - present
        step = min(abs(remaining), abs(speed) * elapsed)
        present = self._goal if step >= abs(remaining) else present + round(step) * (1 if remaining > 0 else -1)
        self.encoder = (present + self.get("Homing_Offset")) % TICKS_PER_TURN
        if present == self._goal:
            self._goal = None

    def read(self, address: int, length: int) -> bytes:
        """``length`` bytes of memory from ``address`` (zeros past its end), read-only registers up to date."""
        self.refresh()
        return bytes(self.memory[address : address + length]).ljust(length, b"\x00")

    def write(self, address: int, data: bytes) -> None:
        """Write ``data`` from ``address``, skipping read-only bytes; a goal written with torque on is pursued."""
        self.advance()
        torque_was_on = bool(self.get("Torque_Enable"))
        for i, byte in enumerate(data):
            if address + i < MEMORY_SIZE and address + i not in _READ_ONLY_BYTES:
                self.memory[address + i] = byte
        torque_on = bool(self.get("Torque_Enable"))
        if torque_on and not torque_was_on:
            self.set("Goal_Position", self.present_position())
        if not torque_on:
            self._goal = None
        goal = STS3215_REGISTERS["Goal_Position"]
        if torque_on and address < goal.address + goal.size and address + len(data) > goal.address:
            self._move_to_goal()

    def _move_to_goal(self) -> None:
        goal = self.get("Goal_Position")
        low, high = self.get("Min_Position_Limit"), self.get("Max_Position_Limit")
        if low < high:  # a 0..0 range means "no limits" on Feetech servos
            goal = min(max(goal, low), high)
        self._goal = goal
