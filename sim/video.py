"""MP4 videos of episodes: the cameras side by side, with the step, the sim time and the task signals drawn on them.

Used for evaluation episodes, replays and rollouts alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

_SIGNALS = ("grasped", "lifted", "over_bowl", "released", "success")
_ON = (60, 220, 60)
_OFF = (150, 150, 150)


def compose_frame(
    images: dict[str, np.ndarray], signals: dict[str, Any], step: int, fps: int, height: int | None = 240
) -> np.ndarray:
    """One video frame: every camera scaled to ``height`` pixels (None: as rendered), side by side, with step, time
    and signals."""
    import cv2

    tiles = []
    for name, image in images.items():
        if height is None or image.shape[0] == height:
            tile = image.copy()
        else:
            width = round(image.shape[1] * height / image.shape[0])
            tile = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        tile_height = tile.shape[0]
        cv2.putText(tile, name, (6, tile_height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    frame = np.ascontiguousarray(np.concatenate(tiles, axis=1))
    cv2.rectangle(frame, (0, 0), (frame.shape[1], 20), (0, 0, 0), -1)
    cv2.putText(frame, f"step {step}  {step / fps:5.2f} s", (6, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                cv2.LINE_AA)
    x = 150
    for name in _SIGNALS:
        on = bool(signals.get(name, False))
        cv2.putText(frame, name, (x, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, _ON if on else _OFF, 1, cv2.LINE_AA)
        x += 9 * len(name) + 14
    return frame


class EpisodeVideo:
    """Streams frames to an H.264 mp4 (nothing is buffered in memory)."""

    def __init__(self, path: Path, fps: int, height: int | None = 240) -> None:
        import imageio.v2 as imageio

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        self.fps = fps
        self.height = height
        # macro_block_size=1: frame widths need not be multiples of 16.
        self._writer = imageio.get_writer(str(path), fps=fps, codec="libx264", quality=7, macro_block_size=1)

    def add(self, images: dict[str, np.ndarray], signals: dict[str, Any], step: int) -> None:
        self._writer.append_data(compose_frame(images, signals, step, self.fps, self.height))

    def close(self) -> None:
        self._writer.close()
