"""Episode videos: frames composed with the task signals, written as MP4 that reads back."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np

from so101.sim.video import EpisodeVideo, compose_frame


def _images(height: int, width: int) -> dict[str, np.ndarray]:
    return {
        "overhead_cam": np.full((height, width, 3), 90, np.uint8),
        "wrist_cam": np.full((height, width, 3), 160, np.uint8),
    }


def test_frame_puts_cameras_side_by_side_at_the_video_height() -> None:
    frame = compose_frame(_images(480, 640), {"grasped": True}, step=30, fps=30, height=240)
    assert frame.shape == (240, 640, 3)
    native = compose_frame(_images(96, 128), {}, step=0, fps=30, height=None)
    assert native.shape == (96, 256, 3)


def test_active_signals_are_drawn_green() -> None:
    def green_pixels(signals: dict[str, bool]) -> int:
        frame = compose_frame(_images(120, 160), signals, step=1, fps=30)
        r, g, b = (frame[:20, ..., i].astype(int) for i in range(3))
        return int(((g > 180) & (r < 100) & (b < 100)).sum())

    assert green_pixels({}) == 0
    assert green_pixels({"grasped": True, "success": True}) > 20


def test_video_file_has_every_frame(tmp_path: Path) -> None:
    video = EpisodeVideo(tmp_path / "episode.mp4", fps=30, height=None)
    for step in range(12):
        video.add(_images(96, 128), {}, step)
    video.close()
    frames = iio.imread(tmp_path / "episode.mp4", plugin="pyav")
    assert frames.shape == (12, 96, 256, 3)
