"""Training samples for ACT from a LeRobot dataset: state and action chunks from its parquet files, images from
the frame cache.

A sample is what ``LeRobotDataset`` with ACT's ``delta_timestamps`` returns, except that images stay uint8
(4x less to move between processes; ``to_policy_batch`` turns them into floats in [0, 1] on the device):

* ``observation.state``: (6,) float32, dataset units;
* ``action``: (chunk_size, 6) float32, the actions of this frame and the next ``chunk_size - 1`` of its episode,
  the last one repeated past the episode's end;
* ``action_is_pad``: (chunk_size,) bool, True where repeated (ACT's L1 loss ignores those);
* ``observation.environment_state``: (10,) float32, for policies that observe it (``so101.sim.environment_state``);
* ``observation.images.<camera>``: (3, H, W) uint8, augmented when the dataset is given an image transform
  (``so101.training.augmentation``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from so101.errors import DatasetError
from so101.sim.environment_state import ENVIRONMENT_STATE_KEY
from so101.training.frame_cache import FrameCache

if TYPE_CHECKING:
    import torch
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

STATE_KEY = "observation.state"
ACTION_KEY = "action"


def read_columns(root: Path, columns: list[str]) -> dict[str, np.ndarray]:
    """Columns of a LeRobot v3.0 dataset's parquet files, ordered by the global frame ``index``."""
    import pyarrow.parquet as pq

    paths = sorted((Path(root) / "data").rglob("*.parquet"))
    tables = [pq.read_table(path, columns=["index", *columns]) for path in paths]
    if not tables:
        raise FileNotFoundError(f"no parquet files under {Path(root) / 'data'}; is {root} a LeRobot dataset?")
    index = np.concatenate([t.column("index").to_numpy() for t in tables])
    order = np.argsort(index, kind="stable")
    if not np.array_equal(index[order], np.arange(len(index))):
        raise DatasetError(
            f"frame indices of {root} are not 0..N-1: the dataset is incomplete; check it with so101 dataset validate"
        )
    out = {}
    for column in columns:
        values = np.concatenate([np.stack(t.column(column).to_numpy(zero_copy_only=False)) for t in tables])
        out[column] = values[order].astype(np.float32)
    return out


class CachedActDataset:
    """A ``torch.utils.data.Dataset`` of ACT training samples (see the module docstring)."""

    def __init__(
        self,
        meta: LeRobotDatasetMetadata,
        cache: FrameCache | None,
        chunk_size: int,
        image_transform: Any | None = None,
        environment_state: bool = False,
    ) -> None:
        columns = read_columns(
            Path(meta.root), [STATE_KEY, ACTION_KEY, *([ENVIRONMENT_STATE_KEY] if environment_state else [])]
        )
        self.environment_states = columns.get(ENVIRONMENT_STATE_KEY)
        self.states = columns[STATE_KEY]
        self.actions = columns[ACTION_KEY]
        self.cache = cache
        self.chunk_size = chunk_size
        self.image_transform = image_transform
        # Index of the last frame of each frame's episode: action chunks stop there.
        self.episode_last = np.empty(len(self.states), dtype=np.int64)
        for episode in meta.episodes:
            start, stop = episode["dataset_from_index"], episode["dataset_to_index"]
            self.episode_last[start:stop] = stop - 1
        self._frames: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.states)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        if self._frames is None:
            # Opened lazily so that each data-loader worker maps the files itself (memory maps do not pickle).
            cameras = self.cache.cameras if self.cache is not None else []
            self._frames = {camera: self.cache.open(camera) for camera in cameras}
        steps = index + np.arange(self.chunk_size)
        last = self.episode_last[index]
        sample = {
            STATE_KEY: torch.from_numpy(self.states[index]),
            ACTION_KEY: torch.from_numpy(self.actions[np.minimum(steps, last)]),
            "action_is_pad": torch.from_numpy(steps > last),
        }
        if self.environment_states is not None:
            sample[ENVIRONMENT_STATE_KEY] = torch.from_numpy(self.environment_states[index])
        for camera, frames in self._frames.items():
            image = torch.from_numpy(np.array(frames[index]))
            if self.image_transform is not None:
                image = self.image_transform(image)
            sample[f"observation.images.{camera}"] = image
        return sample


def to_policy_batch(batch: dict[str, torch.Tensor], device: Any) -> dict[str, torch.Tensor]:
    """Move a collated batch to ``device``, images as float in [0, 1] (what LeRobot's preprocessors expect)."""
    import torch

    out = {}
    for key, value in batch.items():
        value = value.to(device, non_blocking=True)
        out[key] = value.float().div_(255.0) if value.dtype == torch.uint8 else value
    return out
