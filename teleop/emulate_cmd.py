"""``so101 emulate leader``: an emulated, calibrated SO-101 leader arm on a pseudo-terminal, for trying teleop.

    so101 emulate leader
    so101 emulate leader --trajectory sweep --speed 0.5 --duration_s 60

The Feetech bus emulator (``teleop.feetech.emulator``) serves six STS3215 servos on a pseudo-terminal such as
``/dev/pts/5``, which LeRobot opens as it opens a real arm's ``/dev/ttyACM0``. The command stores an example
calibration in the emulated servos, writes the matching calibration file for ``--id`` (in LeRobot's place for
leaders, or ``--calibration_dir``), prints the port and the ``so101 teleop`` command that uses it, and moves the
joints along a scripted trajectory (``teleop.feetech.trajectories``) until Ctrl-C or ``--duration_s``.
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from so101.command import run_command
from teleop.feetech.trajectories import MotionName

Device = Literal["leader"]
"""What ``so101 emulate`` can emulate."""


@dataclass
class EmulateConfig:
    """Options of ``so101 emulate <device>``."""

    device: Device | None = None
    """The device to emulate, the first word after ``emulate``: ``leader`` (an SO-101 leader arm)."""
    id: str = "emulated_leader"
    """Name of the emulated arm; its calibration file is ``<calibration_dir>/<id>.json``."""
    calibration_dir: Path | None = None
    """Where to write the calibration file; default: LeRobot's place for leaders,
    ``$HF_LEROBOT_CALIBRATION/teleoperators/so_leader``. An existing file of another arm is never replaced."""
    trajectory: MotionName = "wave"
    """How the joints move: ``wave`` (every joint on its own slow sine), ``sweep`` (one joint after the other
    through a wide swing) or ``still`` (held at the middle of every range)."""
    speed: float = 1.0
    """Playback speed of the trajectory (2: twice as fast)."""
    duration_s: float | None = None
    """Stop after this much time (s); default: serve until Ctrl-C."""

    def __post_init__(self) -> None:
        if self.device is None:
            raise ValueError("name the device to emulate: so101 emulate leader")
        if self.speed <= 0:
            raise ValueError(f"--speed must be positive, got {self.speed}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError(f"--duration_s must be positive, got {self.duration_s}")


def teleop_command(port: str, arm_id: str, calibration_dir: Path | None) -> str:
    """The ``so101 teleop`` command line that drives the sim from the emulated leader."""
    words = ["so101", "teleop", "--teleop", "leader", "--leader.port", port, "--leader.id", arm_id]
    if calibration_dir is not None:
        words += ["--leader.calibration_dir", str(calibration_dir)]
    return shlex.join(words)


def emulate(cfg: EmulateConfig) -> int:
    """Body of ``so101 emulate``: serve the emulated arm until ``cfg.duration_s`` has passed or Ctrl-C."""
    from teleop.feetech import calibration
    from teleop.feetech.emulated_arm import prepare
    from teleop.feetech.emulator import FeetechBusEmulator
    from teleop.feetech.trajectories import scripted_motion

    path = calibration.calibration_path(calibration.LEADER, cfg.id, cfg.calibration_dir)
    with FeetechBusEmulator() as emulator:
        prepare(emulator, path.parent, cfg.id)
        emulator.play(scripted_motion(cfg.trajectory, cfg.speed))
        print(f"emulated SO-101 leader arm {cfg.id!r} on {emulator.port}", flush=True)
        print(f"calibration file: {path}", flush=True)
        print(f"joints: {cfg.trajectory} trajectory at {cfg.speed:g}x speed", flush=True)
        print(f"try:  {teleop_command(emulator.port, cfg.id, cfg.calibration_dir)}", flush=True)
        until = "Ctrl-C" if cfg.duration_s is None else f"Ctrl-C or {cfg.duration_s:g} s"
        print(f"serving until {until}", flush=True)
        try:
            # Nothing to do here: the emulator's thread answers the client and moves the joints at each read.
            threading.Event().wait(cfg.duration_s)
        finally:
            requests = emulator.counters.requests
            served = f"{sum(requests.values())} requests ({requests['sync_read']} joint reads)"
            print(f"emulated leader: served {served}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 emulate <device>``; returns the exit status."""
    return run_command("emulate", EmulateConfig, emulate, argv, positional="device")
