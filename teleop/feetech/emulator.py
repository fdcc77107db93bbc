"""A bus of Feetech STS3215 servos behind a USB serial adapter, emulated on a pseudo-terminal.

The emulator answers Feetech's protocol 0 (``so101.teleop.feetech.protocol``) on the master side of a pseudo-terminal;
any serial client (pyserial, Feetech's ``scservo_sdk``, LeRobot's ``FeetechMotorsBus``) opens the slave path,
``FeetechBusEmulator.port``, as it would open ``/dev/ttyACM0``.

Served instructions: ping (also on the broadcast id, where every servo answers), read, write (silent on the
broadcast id), sync read and sync write, on servos modelled by ``so101.teleop.feetech.servo.Servo``. Scripts move the
servos' encoders as a hand moves an arm (``set_encoder``, ``play``) and inject the faults of a real bus: corrupted,
lost and late replies, and a pulled cable.

Timing: the emulator answers as soon as a request is complete; it does not model baud rates or the servos' return
delay.
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

import numpy as np

from so101.teleop.feetech.protocol import (
    BROADCAST_ID,
    INSTRUCTION_NAMES,
    PING,
    READ,
    SYNC_READ,
    SYNC_WRITE,
    WRITE,
    split_packets,
    status_packet,
)
from so101.teleop.feetech.servo import SO101_UNITS, TICKS_PER_TURN, Servo, Unit

SO101_IDS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
"""Servo ids of an SO-100/SO-101 arm, shoulder_pan .. gripper."""

Trajectory = Callable[[float], Sequence[float]] | np.ndarray
"""A callable of the time since ``play`` (s) returning one value per servo, or samples of shape (T, n_servos)."""


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


class FeetechBusEmulator:
    """A bus of STS3215 servos on a pseudo-terminal, served by a background thread.

    Example::

        with FeetechBusEmulator() as bus:
            prepare(bus, calibration_dir, "test")  # so101.teleop.feetech.emulated_arm
            leader = SO101Leader(SO101LeaderConfig(port=bus.port, id="test", calibration_dir=calibration_dir))
            bus.play(lambda t: [10 * t, 0, 0, 0, 0, 50])  # degrees, gripper 0..100

    Args:
        ids: the servo ids on the bus (default: an SO-101 arm's 1..6).
        encoders: initial encoder angles (ticks), one per id; default: mid-turn, 2048.
        clock: time source (s) for trajectories and the servos' motion; tests pass a fake one to step time by hand.
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
        self._servos: list[Servo] = [Servo(i, e, clock) for i, e in zip(ids, encoders, strict=True)]
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
            return tuple(servo.id for servo in self._servos)

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

    def place(self, values: Sequence[float], units: Sequence[Unit] = SO101_UNITS) -> None:
        """Put every servo, in bus order, where LeRobot calibrated like it reads ``values`` (``units``); stops
        ``play``, as a hand positioning an unpowered arm."""
        with self._lock:
            self._trajectory = None
            for servo, value, unit in zip(self._servos, values, units, strict=True):
                servo.encoder = servo.encoder_for(float(value), unit)

    def encoder(self, servo_id: int) -> int:
        """A servo's physical encoder angle (ticks), as last moved by a script or a goal."""
        with self._lock:
            self._apply_trajectory()
            servo = self._servo(servo_id)
            servo.advance()
            return servo.encoder

    def positions(self, units: Sequence[Unit] = SO101_UNITS) -> np.ndarray:
        """Every servo's position now, in bus order, as LeRobot calibrated like the servos reads it (``units``)."""
        with self._lock:
            self._apply_trajectory()
            for servo in self._servos:
                servo.advance()
            return np.array([servo.value(unit) for servo, unit in zip(self._servos, units, strict=True)])

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

    def play(self, trajectory: Trajectory, units: Sequence[Unit] = SO101_UNITS, rate_hz: float = 30.0) -> None:
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

    def _servo(self, servo_id: int) -> Servo:
        for servo in self._servos:
            if servo.id == servo_id:
                return servo
        raise KeyError(f"no servo with id {servo_id} on the bus; ids: {[s.id for s in self._servos]}")

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
            packets, dropped = split_packets(buffer)
            self.counters.bad_requests += dropped
            for packet in packets:
                reply = self._handle(packet)
                if reply and self._delay_next:
                    with self._lock:
                        self._delay_next -= 1
                        self.counters.delayed += 1
                    # Holding up the serving thread is the fault itself: requests behind the answer wait too.
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
                servos = [s for i in params[2:] for s in self._servos if s.id == i]
                return b"".join(self._reply(s.id, s.read(address, length)) for s in servos)
            targets = self._servos if servo_id == BROADCAST_ID else [s for s in self._servos if s.id == servo_id]
            replies = []
            for servo in targets:
                if instruction == PING:
                    replies.append(self._reply(servo.id))
                elif instruction == READ:
                    replies.append(self._reply(servo.id, servo.read(params[0], params[1])))
                elif instruction == WRITE:
                    silent = servo_id == BROADCAST_ID or servo.get("Response_Status_Level") == 0
                    # The status of a write that changes the id still carries the id it was addressed to.
                    replying_id = servo.id
                    servo.write(params[0], params[1:])
                    if not silent:
                        replies.append(self._reply(replying_id))
            return b"".join(replies)

    def _sync_write(self, params: bytes) -> None:
        address, length = params[0], params[1]
        stride = length + 1
        for offset in range(2, len(params) - stride + 1, stride):
            for servo in self._servos:
                if servo.id == params[offset]:
                    servo.write(address, params[offset + 1 : offset + stride])

    def _reply(self, servo_id: int, params: bytes = b"") -> bytes:
        """One status packet, unless a scripted fault drops or corrupts it."""
        if self._drop_next:
            self._drop_next -= 1
            self.counters.dropped += 1
            return b""
        corrupt = self._corrupt_next > 0
        if corrupt:
            self._corrupt_next -= 1
            self.counters.corrupted += 1
        else:
            self.counters.replies += 1
        return status_packet(servo_id, params, corrupt=corrupt)
