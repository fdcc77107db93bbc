"""The physical leader arm: an SO-100/SO-101 leader read through LeRobot's own ``so101_leader`` teleoperator.

``LeaderArm`` wraps LeRobot's ``SO101Leader`` (six Feetech STS3215 servos on a USB serial adapter) and returns
joint vectors of shape (6,) in ``JOINT_NAMES`` order, in LeRobot's units (degrees for the body joints, 0..100 for
the gripper; or the older -100..100 body range) with the per-joint overrides applied.

Calibration files are LeRobot's own (``so101.teleop.feetech.calibration``): ``<calibration_dir>/<id>.json``, by default
in LeRobot's place for leaders, ``$HF_LEROBOT_CALIBRATION/teleoperators/so_leader`` (or the older
``.../so101_leader``). ``so101 calibrate-leader`` writes them; ``so101 emulate leader`` writes one for its emulated
arm.

A port or calibration problem raises ``PortError`` or ``CalibrationError`` (``so101.teleop.feetech``) naming the fix; an
arm that goes away mid-session raises ``LeaderDisconnected``, so that a recorder can discard the episode in
progress.
"""

from __future__ import annotations

import json
import logging
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import numpy as np
from serial import SerialException

from so101.errors import ConfigError
from so101.kinematics.units import JOINT_FEATURE_NAMES, JOINT_NAMES, Normalization
from so101.teleop.action_source import SourceDisconnected
from so101.teleop.feetech import calibration
from so101.teleop.feetech.ports import check_port, close_quietly, open_bus

if TYPE_CHECKING:
    from lerobot.teleoperators.so_leader import SO101Leader

logger = logging.getLogger(__name__)

ARM = "leader arm"
"""What the messages call the device."""

CONTROL_PERIOD_S = 1.0 / 30.0
"""One control step at 30 Hz, the default time allowed to retry a failed read (s)."""


class LeaderDisconnected(SourceDisconnected):
    """The leader arm went away mid-session (USB cable pulled, power lost)."""


@dataclass
class LeaderConfig:
    """Options of the leader arm (``--leader.port``, ``--leader.id``, ...)."""

    port: str = "/dev/ttyACM0"
    """Serial device of the leader's USB adapter (``lerobot-find-port`` tells which one; ``so101 emulate leader``
    prints its emulated one)."""
    id: str = "leader"
    """Name of the arm; its calibration file is ``<calibration_dir>/<id>.json``."""
    calibration_dir: Path | None = None
    """Where calibration files live; default: LeRobot's place for leaders,
    ``$HF_LEROBOT_CALIBRATION/teleoperators/so_leader``."""
    norm_mode: Normalization = "degrees"
    """Body joint units LeRobot reads: ``degrees`` (LeRobot's current SO-101 units) or ``range_m100_100`` (the
    leader's calibrated range mapped onto the sim joint's whole range)."""
    overrides_path: Path | None = None
    """Optional JSON of per-joint sign and offset overrides, e.g.
    ``{"wrist_roll": {"sign": -1, "offset": 90.0}}`` (``so101 teleop --check`` helps to find them)."""
    read_budget_s: float = CONTROL_PERIOD_S
    """Time allowed to retry a failed read (s); afterwards the last good reading is returned."""
    disconnect_after_s: float = 1.0
    """Without a good reading for this long (s), the arm counts as disconnected."""

    def __post_init__(self) -> None:
        if self.norm_mode not in get_args(Normalization):
            choices = ", ".join(get_args(Normalization))
            raise ValueError(f"--leader.norm_mode must be one of {choices}, got {self.norm_mode!r}")
        if self.read_budget_s < 0:
            raise ConfigError("leader.read_budget_s", self.read_budget_s, "must be at least 0")
        if self.disconnect_after_s <= 0:
            raise ConfigError("leader.disconnect_after_s", self.disconnect_after_s, "must be positive")


@dataclass(frozen=True)
class JointOverrides:
    """Per-joint corrections for arms whose zero or direction differs: ``value = sign * reading + offset``.

    The JSON file maps joint names to corrections; joints left out are unchanged. Offsets are in LeRobot's units
    (degrees, or percent for the gripper and for ``range_m100_100`` body joints)::

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
        """Correct a (6,) reading in LeRobot's units."""
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


def calibration_path(config: LeaderConfig) -> Path:
    """The calibration file of the leader ``config.id`` (``so101.teleop.feetech.calibration.calibration_path``)."""
    return calibration.calibration_path(calibration.LEADER, config.id, config.calibration_dir)


def calibrate_command(config: LeaderConfig) -> str:
    """The command that calibrates this leader."""
    command = f"so101 calibrate-leader --leader.port {config.port} --leader.id {config.id}"
    if config.calibration_dir is not None:
        command += f" --leader.calibration_dir {config.calibration_dir}"
    return command


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


class LeaderArm:
    """A physical SO-100/SO-101 leader arm, read through LeRobot.

    Example::

        with LeaderArm(LeaderConfig(port="/dev/ttyACM0", id="my_leader")) as leader:
            q = leader.read()  # (6,) degrees, gripper 0..100

    Raises:
        ValueError: the overrides file (``config.overrides_path``) is malformed.
    """

    def __init__(self, config: LeaderConfig) -> None:
        self.config = config
        self.overrides = JointOverrides.load(config.overrides_path) if config.overrides_path else JointOverrides()
        self.stats = LeaderStats()
        self._leader: SO101Leader | None = None
        self._last: np.ndarray | None = None
        self._last_good_time = 0.0

    @property
    def is_connected(self) -> bool:
        return self._leader is not None

    @property
    def last_reading(self) -> np.ndarray | None:
        """The latest reading ``read`` returned: (6,) LeRobot's units, overrides applied; None before the first."""
        return None if self._last is None else self._last.copy()

    def connect(self) -> None:
        """Open the port, check the servos and the calibration, and configure the servos as LeRobot does.

        Raises:
            PortError: the port is missing, busy or not permitted, or no arm answers on it.
            CalibrationError: the calibration file is missing or does not match the servos.
            LeaderDisconnected: the arm stopped answering while it was being configured.
        """
        if self._leader is not None:
            return
        config = self.config
        check_port(config.port, "--leader.port", ARM)
        path = calibration_path(config)
        calibration.check_file(path, f"the leader {config.id!r}", calibrate_command(config))
        leader = lerobot_leader(config)
        open_bus(leader.bus, ARM)
        try:
            calibration.check_servos(
                leader.bus, leader.calibration, path, f"the arm calibrated as {config.id!r}", calibrate_command(config)
            )
            leader.configure()
        except (ConnectionError, SerialException, termios.error) as error:
            close_quietly(leader.bus)
            raise LeaderDisconnected(_disconnect_message(config, error)) from error
        except BaseException:
            close_quietly(leader.bus)
            raise
        self._leader = leader
        self._last = None
        self._last_good_time = time.monotonic()
        logger.debug("leader arm %r connected on %s", config.id, config.port)

    def disconnect(self) -> None:
        """Release the servos (torque off, as LeRobot does) and close the port; quiet if the arm is gone."""
        if self._leader is None:
            return
        leader, self._leader = self._leader, None
        try:
            leader.disconnect()
        except (OSError, termios.error) as error:  # the arm is already gone; nothing to release
            logger.debug("leader arm disconnect: %s", error)
            close_quietly(leader.bus)

    def __enter__(self) -> LeaderArm:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def read(self) -> np.ndarray:
        """Read the six joints: (6,) float64 in LeRobot's units (``config.norm_mode``), overrides applied.

        A failed bus read (bad checksum, lost reply) is retried until ``config.read_budget_s`` has passed;
        then the previous reading is returned and counted in ``stats.stale_reads``.

        Raises:
            LeaderDisconnected: the port went away, or no read succeeded for ``config.disconnect_after_s``.
        """
        if self._leader is None:
            raise RuntimeError("the leader arm is not connected; call connect() first")
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

    def _drop_connection(self) -> None:
        leader, self._leader = self._leader, None
        if leader is not None:
            close_quietly(leader.bus)


def _report(message: str, count: int) -> None:
    """Warn at the 1st, 10th, 100th ... occurrence so that a flaky cable is reported without flooding."""
    n = count
    while n % 10 == 0 and n > 1:
        n //= 10
    if n == 1:
        logger.warning("%s (%d so far)", message, count)


def _disconnect_message(config: LeaderConfig, error: BaseException) -> str:
    return (
        f"the leader arm on {config.port} stopped answering ({error}): USB cable unplugged or servo power lost. "
        "Plug it back in (its port may change: `lerobot-find-port` tells) and connect again."
    )
