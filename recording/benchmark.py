"""``so101 bench record``: how much faster than real time scripted recording runs, cameras and encoding included.

    so101 bench record                                   # 10 episodes, overhead_cam + wrist_cam at 640x480
    so101 bench record --episodes 10 --dataset.vcodec libsvtav1 --cameras.render_profile quality

Records into a temporary dataset (deleted afterwards, unless ``--keep`` names a folder) with the same code as
``so101 record --teleop scripted``. The ratio is recorded sim time over wall time, dataset creation, video
encoding and finalization included, as a user's session sees it; the one-time set-up weighs less the longer the
session.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from so101.command import run_command
from so101.errors import ConfigError
from so101.recording.dataset_writer import DatasetConfig
from so101.sim.options import CameraOptions

TARGET_REALTIME_RATIO = 3.0
"""Scripted recording should run at least this many times faster than real time on a 2-core CPU."""


@dataclass
class RecordBenchConfig:
    """Options of ``so101 bench record``."""

    episodes: int = 10
    """Scripted episodes to record."""
    cameras: CameraOptions = field(default_factory=CameraOptions)
    dataset: DatasetConfig = field(default_factory=lambda: DatasetConfig(repo_id="bench/so101_record"))
    keep: Path | None = None
    """Write the dataset here and keep it, instead of a temporary folder."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ConfigError("episodes", self.episodes, "must be at least 1")


def run(cfg: RecordBenchConfig) -> int:
    """Record, print the figures, the target and the machine; 0 when it ran, whatever the figures."""
    from so101.recording.record import RecordConfig, record
    from so101.sim.machine import machine_line

    cpu_start = time.process_time()
    with tempfile.TemporaryDirectory(prefix="so101_bench_record_") as tmp:
        cfg.dataset.root = cfg.keep if cfg.keep is not None else Path(tmp) / "dataset"
        record_cfg = RecordConfig(teleop="scripted", episodes=cfg.episodes, dataset=cfg.dataset, cameras=cfg.cameras)
        summary = record(record_cfg)
    cpu_s = time.process_time() - cpu_start
    sim_s = summary.frames / record_cfg.scene.fps
    ratio = sim_s / summary.wall_s if summary.wall_s > 0 else float("inf")
    cams = cfg.cameras
    print(
        f"bench record: {summary.saved} episodes, {summary.frames} frames ({sim_s:.1f} s of sim time) with "
        f"{', '.join(cams.names)} at {cams.width}x{cams.height}, {cams.render_profile} profile, {cfg.dataset.vcodec}"
    )
    verdict = "meets" if ratio >= TARGET_REALTIME_RATIO else "below"
    print(
        f"  wall time {summary.wall_s:.1f} s: {ratio:.2f}x real time ({summary.frames / summary.wall_s:.1f} frames/s);"
        f" target >= {TARGET_REALTIME_RATIO:.0f}x: {verdict}"
    )
    # Other processes slow the figure down: say how much CPU the recording itself used, and how busy the machine was.
    print(
        f"  CPU time {cpu_s:.1f} s ({cpu_s / sim_s:.2f} CPU-s per sim-s); load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  {machine_line()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 bench record``."""
    return run_command("bench record", RecordBenchConfig, run, argv)
