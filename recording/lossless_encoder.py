"""A streaming video encoder that never drops a frame: LeRobot's waits on a full queue instead of dropping it."""

from __future__ import annotations

import queue
import sys
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from so101.recording.dataset_writer import DatasetConfig

LOSSLESS_ENCODER_LEROBOT = "0.4.4"
"""The LeRobot version whose private streaming-encoder attributes ``use_lossless_encoder`` replaces."""


def use_lossless_encoder(dataset: LeRobotDataset, config: DatasetConfig) -> None:
    """Replace LeRobot's streaming encoder by one that waits for a full queue instead of dropping the frame.

    LeRobot 0.4.4 has no option for this; the replacement relies on that version's private attributes
    (``_streaming_encoder``, ``_frame_queues``, ``_threads``), so another version keeps LeRobot's own encoder.
    """
    from importlib.metadata import version

    from lerobot.datasets.video_utils import StreamingVideoEncoder

    if version("lerobot") != LOSSLESS_ENCODER_LEROBOT:
        print(
            f"record: LeRobot {version('lerobot')} is not {LOSSLESS_ENCODER_LEROBOT}: using its own video encoder, "
            "which drops frames when encoding falls behind; install the pinned version (make setup)",
            file=sys.stderr,
        )
        return

    class WaitingEncoder(StreamingVideoEncoder):
        def feed_frame(self, video_key: str, image: np.ndarray) -> None:
            frames = self._frame_queues[video_key]
            while True:
                try:
                    frames.put(image.copy(), timeout=1.0)
                    return
                except queue.Full:
                    if not self._threads[video_key].is_alive():
                        reason = self._thread_error(video_key)
                        raise RuntimeError(f"the video encoder of {video_key} stopped: {reason}") from None

        def _thread_error(self, video_key: str) -> str:
            try:
                status, data = self._result_queues[video_key].get_nowait()
            except queue.Empty:
                return "no reason given"
            return str(data) if status == "error" else "it ended early"

    previous = dataset._streaming_encoder
    if previous is not None:
        previous.close()
    # Same settings as LeRobot's own streaming encoder (lerobot_dataset.py, LeRobotDataset.create).
    dataset._streaming_encoder = WaitingEncoder(
        fps=dataset.fps,
        vcodec=dataset.vcodec,
        pix_fmt="yuv420p",
        g=2,
        crf=30,
        preset=None,
        queue_maxsize=30,
        encoder_threads=config.encoder_threads,
    )
