"""``so101 bench record``: how much faster than real time scripted recording runs, cameras and encoding included.

    so101 bench record                                   # 10 episodes, overhead_cam + wrist_cam at 640x480
    so101 bench record --episodes 10 --dataset.vcodec libsvtav1 --render_profile quality

Records into a temporary dataset (deleted afterwards, unless ``--keep`` names a folder) with the same code as
``so101 record --teleop scripted``. The ratio is recorded sim time over wall time, dataset creation, video
encoding and finalization included, as a user's session sees it; the one-time set-up weighs less the longer the
session (5 episodes: 2.95x, 10: 3.49x on the development machine).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from recording.dataset_writer import DatasetConfig


@dataclass
class RecordBenchConfig:
    episodes: int = 10
    camera_width: int = 640
    camera_height: int = 480
    cameras: list[str] = field(default_factory=lambda: ["overhead_cam", "wrist_cam"])
    render_profile: str = "fast"
    dataset: DatasetConfig = field(default_factory=lambda: DatasetConfig(repo_id="bench/so101_record"))
    keep: Path | None = None
    """Write the dataset here and keep it, instead of a temporary folder."""


def main(argv: list[str]) -> int:
    """Entry point of ``so101 bench record``; returns 1 when recording is slower than 3x real time."""
    import draccus

    from recording.record import RecordConfig, record

    cfg = draccus.parse(config_class=RecordBenchConfig, args=argv)
    cpu_start = time.process_time()
    with tempfile.TemporaryDirectory(prefix="so101_bench_record_") as tmp:
        cfg.dataset.root = cfg.keep if cfg.keep is not None else Path(tmp) / "dataset"
        record_cfg = RecordConfig(
            teleop="scripted",
            episodes=cfg.episodes,
            dataset=cfg.dataset,
            cameras=cfg.cameras,
            camera_width=cfg.camera_width,
            camera_height=cfg.camera_height,
            render_profile=cfg.render_profile,
        )
        summary = record(record_cfg)
    cpu_s = time.process_time() - cpu_start
    sim_s = summary.frames / record_cfg.fps
    ratio = sim_s / summary.wall_s if summary.wall_s > 0 else float("inf")
    cameras = ", ".join(cfg.cameras)
    print(
        f"bench record: {summary.saved} episodes, {summary.frames} frames ({sim_s:.1f} s of sim time) with "
        f"{cameras} at {cfg.camera_width}x{cfg.camera_height}, {cfg.render_profile} profile, {cfg.dataset.vcodec}"
    )
    print(
        f"  wall time {summary.wall_s:.1f} s: {ratio:.2f}x real time ({summary.frames / summary.wall_s:.1f} frames/s)"
    )
    # Other processes slow the figure down: say how much CPU the recording itself used, and how busy the machine was.
    print(
        f"  CPU time {cpu_s:.1f} s ({cpu_s / sim_s:.2f} CPU-s per sim-s) on {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    return 0 if ratio >= 3.0 else 1
