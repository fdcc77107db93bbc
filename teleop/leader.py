"""The physical leader arm: an SO-100/SO-101 leader read through LeRobot's own ``so101_leader`` teleoperator.

``LeaderArm`` wraps LeRobot's ``SO101Leader`` (six Feetech STS3215 servos on a USB serial adapter) and
returns joint vectors of shape (6,) in ``JOINT_NAMES`` order, in dataset units (degrees for the body
joints, 0..100 for the gripper; or the older -100..100 body range), or as simulator radians.

Calibration files are LeRobot's own: ``<calibration_dir>/<id>.json``, where ``calibration_dir`` defaults to
LeRobot's standard place, ``$HF_LEROBOT_CALIBRATION/teleoperators/so_leader`` (LeRobot 0.4 stores SO-100
and SO-101 leaders there; ``HF_LEROBOT_CALIBRATION`` defaults to ``~/.cache/huggingface/lerobot/calibration``).
A file left by older LeRobot versions in ``.../teleoperators/so101_leader`` is used when the new place has
none. ``so101 calibrate-leader`` writes them.

Failures raise ``LeaderError`` subclasses whose messages name the fix; an arm that goes away mid-session
raises ``LeaderDisconnected`` so that a recorder can discard the episode in progress.
"""

from __future__ import annotations

import errno
import glob
import json
import logging
import os
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast, get_args

import numpy as np
from serial import SerialException

from kinematics.units import JOINT_FEATURE_NAMES, JOINT_NAMES, JointLimits, Normalization, dataset_to_radians
from teleop.action_source import SourceDisconnected, SourceError

if TYPE_CHECKING:
    from lerobot.teleoperators.so_leader import SO101Leader

logger = logging.getLogger(__name__)

CONTROL_PERIOD_S = 1.0 / 30.0
"""One control step at 30 Hz, the default time allowed to retry a failed read (s)."""

FAR_OUT_OF_RANGE_RAD = np.deg2rad(5.0)
"""Readings this far beyond a joint limit (rad) are reported: calibration or overrides are likely off."""


class LeaderError(SourceError):
    """A leader arm problem; the message says what to do."""


class LeaderPortError(LeaderError):
    """The serial port is missing, busy, not permitted, or has no leader arm behind it."""


class LeaderCalibrationError(LeaderError):
    """The calibration file is missing or does not match the servos."""


class LeaderDisconnected(LeaderError, SourceDisconnected):
    """The leader arm went away mid-session (USB cable pulled, power lost)."""


@dataclass
class LeaderConfig:
    """Options of the leader arm (``--leader.port``, ``--leader.id``, ...)."""

    port: str = "/dev/ttyACM0"
    """Serial device of the leader's USB adapter (``lerobot-find-port`` tells which one)."""
    id: str = "leader"
    """Name of the arm; its calibration file is ``<calibration_dir>/<id>.json``."""
    calibration_dir: Path | None = None
    """Where calibration files live; default: LeRobot's standard place (see the module docstring)."""
    norm_mode: str = "degrees"
    """Body joint units: ``degrees`` (LeRobot's current SO-101 units) or ``range_m100_100`` (older datasets).
    A plain ``str`` because draccus cannot parse ``Literal``; checked on construction."""
    overrides_path: Path | None = None
    """Optional JSON of per-joint sign and offset overrides (see ``JointOverrides``)."""
    read_budget_s: float = CONTROL_PERIOD_S
    """Time allowed to retry a failed read (s); afterwards the last good reading is returned."""
    disconnect_after_s: float = 1.0
    """Without a good reading for this long (s), the arm counts as disconnected."""

    def __post_init__(self) -> None:
        if self.norm_mode not in get_args(Normalization):
            raise ValueError(f"unknown norm_mode {self.norm_mode!r}; use one of {get_args(Normalization)}")


@dataclass(frozen=True)
class JointOverrides:
    """Per-joint corrections for arms whose zero or direction differs: ``value = sign * reading + offset``.

    The JSON file maps joint names to corrections; joints left out are unchanged. Offsets are in dataset
    units (degrees, or percent for the gripper and for ``range_m100_100`` body joints)::

        {"wrist_roll": {"sign": -1, "offset": 90.0}, "gripper": {"offset": -3.0}}
    """

    sign: np.ndarray = field(default_factory=lambda: np.ones(6))
    offset: np.ndarray = field(default_factory=lambda: np.zeros(6))

    @classmethod
    def load(cls, path: Path) -> JointOverrides:
        """Read overrides from a JSON file; raises ``ValueError`` naming the bad entry."""
        entries = json.loads(Path(path).read_text())
        sign, offset = np.ones(6), np.zeros(6)
        for joint, entry in entries.items():
            if joint not in JOINT_NAMES:
                raise ValueError(f"{path}: unknown joint {joint!r}; joints are {JOINT_NAMES}")
            unknown = set(entry) - {"sign", "offset"}
            if unknown:
                raise ValueError(f"{path}: {joint} has unknown keys {sorted(unknown)}; use 'sign' and 'offset'")
            index = JOINT_NAMES.index(joint)
            sign[index] = entry.get("sign", 1)
            offset[index] = entry.get("offset", 0.0)
            if sign[index] not in (1, -1):
                raise ValueError(f"{path}: {joint} sign must be 1 or -1, got {entry['sign']}")
        return cls(sign, offset)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Correct a (6,) reading in dataset units."""
        return self.sign * values + self.offset


@dataclass
class LeaderStats:
    """Counters of one session; a recorder can print them at the end of an episode."""

    reads: int = 0
    """Calls to ``read`` that returned."""
    retries: int = 0
    """Bus reads that failed (bad checksum, lost reply) and were tried again."""
    stale_reads: int = 0
    """Reads that returned the previous reading because no retry succeeded within the budget."""
    clamped: np.ndarray = field(default_factory=lambda: np.zeros(6, dtype=np.int64))
    """Per joint, readings clamped to the joint limits by ``read_radians``."""


def calibration_path(config: LeaderConfig) -> Path:
    """The calibration file of the leader ``config.id``; see the module docstring for the search order."""
    if config.calibration_dir is not None:
        return Path(config.calibration_dir) / f"{config.id}.json"
    from lerobot.utils import constants

    root = constants.HF_LEROBOT_CALIBRATION / constants.TELEOPERATORS
    current = root / "so_leader" / f"{config.id}.json"
    legacy = root / "so101_leader" / f"{config.id}.json"
    return legacy if legacy.is_file() and not current.is_file() else current


def serial_ports() -> list[str]:
    """Serial ports present on this machine, e.g. ``["/dev/ttyACM0"]``."""
    from serial.tools import list_ports

    found = {port.device for port in list_ports.comports()}
    found.update(glob.glob("/dev/ttyACM*") + glob.glob("/dev/ttyUSB*"))
    return sorted(found)


def check_port(port: str) -> None:
    """Raise ``LeaderPortError`` with the fix if ``port`` is missing, not permitted or held by another process."""
    if not os.path.exists(port):
        found = serial_ports()
        listing = ", ".join(found) if found else "none (is the leader's USB cable plugged in?)"
        raise LeaderPortError(
            f"no serial port {port}. Serial ports found: {listing}. Pass the leader's one with --leader.port; "
            "`lerobot-find-port` tells which one it is."
        )
    if not os.access(port, os.R_OK | os.W_OK):
        raise LeaderPortError(
            f"no permission to open {port}. On Linux add yourself to its group and log in again: "
            f"sudo usermod -aG $(stat -c %G {port}) $USER"
        )
    holders = _other_processes_holding(port)
    if holders:
        raise LeaderPortError(
            f"{port} is busy: already open in {'; '.join(holders)}. Stop that program (or use another port) "
            "and try again."
        )


def lerobot_leader(config: LeaderConfig) -> SO101Leader:
    """LeRobot's SO-101 leader for ``config``, reading the calibration file ``calibration_path(config)``."""
    from lerobot.teleoperators.so_leader import SO101Leader, SO101LeaderConfig

    return SO101Leader(
        SO101LeaderConfig(
            port=config.port,
            id=config.id,
            calibration_dir=calibration_path(config).parent,
            use_degrees=config.norm_mode == "degrees",
        )
    )


def calibrate_command(config: LeaderConfig) -> str:
    """The command that calibrates this leader."""
    return f"so101 calibrate-leader --leader.port {config.port} --leader.id {config.id}"


class LeaderArm:
    """A physical SO-100/SO-101 leader arm, read through LeRobot.

    Example::

        with LeaderArm(LeaderConfig(port="/dev/ttyACM0", id="my_leader")) as leader:
            q = leader.read()  # (6,) degrees, gripper 0..100
    """

    def __init__(self, config: LeaderConfig) -> None:
        self.config = config
        self.overrides = JointOverrides.load(config.overrides_path) if config.overrides_path else JointOverrides()
        self.stats = LeaderStats()
        self._leader: SO101Leader | None = None
        self._last: np.ndarray | None = None
        self._last_good_time = 0.0
        self._warned_far = np.zeros(6, dtype=bool)

    @property
    def is_connected(self) -> bool:
        return self._leader is not None

    @property
    def last_reading(self) -> np.ndarray | None:
        """The latest reading ``read`` returned: (6,) dataset units, overrides applied; None before the first."""
        return None if self._last is None else self._last.copy()

    def connect(self) -> None:
        """Open the port, check the servos and the calibration, and configure the servos as LeRobot does."""
        if self._leader is not None:
            return
        check_port(self.config.port)
        path = calibration_path(self.config)
        if not path.is_file():
            raise LeaderCalibrationError(
                f"no calibration file for the leader {self.config.id!r} (looked for {path}). "
                f"Calibrate it with: {calibrate_command(self.config)}"
            )
        leader = lerobot_leader(self.config)
        try:
            leader.bus.connect()
        except (ConnectionError, RuntimeError) as error:  # port not opened, or servos missing in the handshake
            _close_quietly(leader)
            raise _port_error(self.config.port, error) from error
        try:
            if not leader.bus.is_calibrated:
                raise LeaderCalibrationError(
                    f"the calibration file {path} does not match the servos on {self.config.port} "
                    f"({_calibration_difference(leader)}). If this is the arm calibrated as "
                    f"{self.config.id!r} (its servos were reset or replaced), run {calibrate_command(self.config)} "
                    "and press ENTER at the first question to write the file to the servos; otherwise type 'c' "
                    "there to calibrate again."
                )
            leader.configure()
        except (ConnectionError, SerialException, termios.error) as error:
            _close_quietly(leader)
            raise LeaderDisconnected(_disconnect_message(self.config, error)) from error
        except BaseException:
            _close_quietly(leader)
            raise
        self._leader = leader
        self._last = None
        self._last_good_time = time.monotonic()
        logger.info("leader arm %r connected on %s", self.config.id, self.config.port)

    def disconnect(self) -> None:
        """Release the servos (torque off, as LeRobot does) and close the port; quiet if the arm is gone."""
        if self._leader is None:
            return
        leader, self._leader = self._leader, None
        try:
            leader.disconnect()
        except (OSError, termios.error) as error:  # the arm is already gone; nothing to release
            logger.debug("leader arm disconnect: %s", error)
            _close_quietly(leader)

    def __enter__(self) -> LeaderArm:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def read(self) -> np.ndarray:
        """Read the six joints: (6,) float64 in dataset units (``config.norm_mode``), overrides applied.

        A failed bus read (bad checksum, lost reply) is retried until ``config.read_budget_s`` has passed;
        then the previous reading is returned and counted in ``stats.stale_reads``.

        Raises:
            LeaderDisconnected: the port went away, or no read succeeded for ``config.disconnect_after_s``.
        """
        if self._leader is None:
            raise LeaderError("the leader arm is not connected; call connect() first")
        start = time.monotonic()
        while True:
            try:
                # Drop whatever waits in the input buffer: the rest of a garbled answer, or a late one that came
                # after a read gave up on it. Otherwise this read would take the previous request's replies, and
                # every later read too. Normally the buffer is empty and this costs one system call.
                self._leader.bus.port_handler.ser.reset_input_buffer()
                action = self._leader.get_action()
                break
            except (SerialException, termios.error) as error:
                # pyserial and termios errors mean the device itself is gone, not a garbled reply.
                self._drop_connection()
                raise LeaderDisconnected(_disconnect_message(self.config, error)) from error
            except ConnectionError as error:  # LeRobot's report of a bad or missing reply
                now = time.monotonic()
                if now - self._last_good_time > self.config.disconnect_after_s:
                    self._drop_connection()
                    raise LeaderDisconnected(_disconnect_message(self.config, error)) from error
                if now - start > self.config.read_budget_s and self._last is not None:
                    self.stats.stale_reads += 1
                    self.stats.reads += 1
                    _report("leader arm: no good reply within the read budget, reused the last reading",
                            self.stats.stale_reads)
                    return self._last.copy()
                self.stats.retries += 1
                _report(f"leader arm: bad reply from the servos ({error}); retrying", self.stats.retries)
        values = self.overrides.apply(np.array([action[name] for name in JOINT_FEATURE_NAMES], dtype=np.float64))
        self._last = values
        self._last_good_time = time.monotonic()
        self.stats.reads += 1
        return values.copy()

    def read_radians(self, limits: JointLimits) -> np.ndarray:
        """Read the joints as simulator targets: (6,) radians, clamped to ``limits``.

        Readings beyond a limit are counted per joint in ``stats.clamped``; the first one of a joint that is
        more than ``FAR_OUT_OF_RANGE_RAD`` beyond is logged as a warning.
        """
        radians = dataset_to_radians(self.read(), limits, cast(Normalization, self.config.norm_mode))
        below, above = radians < limits.lower, radians > limits.upper
        self.stats.clamped += below | above
        far = (radians < limits.lower - FAR_OUT_OF_RANGE_RAD) | (radians > limits.upper + FAR_OUT_OF_RANGE_RAD)
        for index in np.flatnonzero(far & ~self._warned_far):
            self._warned_far[index] = True
            logger.warning(
                "leader arm: %s reads %.1f deg, beyond its limits %.1f .. %.1f deg; clamping. Check the "
                "calibration (%s) or the overrides (--leader.overrides_path).",
                JOINT_NAMES[index],
                np.rad2deg(radians[index]),
                np.rad2deg(limits.lower[index]),
                np.rad2deg(limits.upper[index]),
                calibrate_command(self.config),
            )
        return np.clip(radians, limits.lower, limits.upper)

    def _drop_connection(self) -> None:
        leader, self._leader = self._leader, None
        if leader is not None:
            _close_quietly(leader)


def _report(message: str, count: int) -> None:
    """Warn at the 1st, 10th, 100th ... occurrence so that a flaky cable is reported without flooding."""
    if _is_power_of_ten(count):
        logger.warning("%s (%d so far)", message, count)


def _is_power_of_ten(n: int) -> bool:
    while n % 10 == 0 and n > 1:
        n //= 10
    return n == 1


def _close_quietly(leader: SO101Leader) -> None:
    try:
        if leader.bus.port_handler.is_open:
            leader.bus.port_handler.closePort()
    except (OSError, termios.error):
        pass


def _port_error(port: str, error: Exception) -> LeaderError:
    """Turn LeRobot's generic connection error into one that names the cause."""
    cause = error.__cause__
    if isinstance(cause, OSError) and cause.errno == errno.EBUSY:
        return LeaderPortError(f"{port} is busy: another program holds it. Stop that program and try again.")
    if isinstance(cause, OSError) and cause.errno == errno.EACCES:
        return LeaderPortError(f"no permission to open {port}; add yourself to the 'dialout' group and log in again")
    return LeaderPortError(
        f"no leader arm answered on {port} ({cause or error}). Check that the leader's power supply is plugged "
        f"in and that {port} is the leader's port; serial ports found: {', '.join(serial_ports()) or 'none'}."
    )


def _calibration_difference(leader: SO101Leader) -> str:
    """Name the first servo whose stored calibration differs from the file."""
    in_servos = leader.bus.read_calibration()
    for motor, expected in leader.calibration.items():
        found = in_servos.get(motor)
        if found is None:
            return f"{motor} is not on the bus"
        if (found.homing_offset, found.range_min, found.range_max) != (
            expected.homing_offset,
            expected.range_min,
            expected.range_max,
        ):
            return (
                f"{motor}: file has offset {expected.homing_offset}, range {expected.range_min}..{expected.range_max}; "
                f"servo has offset {found.homing_offset}, range {found.range_min}..{found.range_max}"
            )
    missing = sorted(set(in_servos) - set(leader.calibration))
    return f"the file has no entry for {', '.join(missing)}"


def _disconnect_message(config: LeaderConfig, error: BaseException) -> str:
    return (
        f"the leader arm on {config.port} stopped answering ({error}): USB cable unplugged or servo power lost. "
        "Plug it back in (its port may change: `lerobot-find-port` tells) and connect again."
    )


def _other_processes_holding(port: str) -> list[str]:
    """Other processes (pid and command) with ``port`` open, from /proc; empty where /proc is missing."""
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
