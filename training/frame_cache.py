"""Decoded camera frames of a LeRobot dataset, at training resolution, in uint8 memory-mapped files.

Decoding video in the data loader cost the seeds' runs 39% of every step, and caching full-size float frames
took 45 GB. Here every frame is decoded once, sequentially (each video file start to end, the fast way), resized
to the policy's resolution with the same operator the policy's preprocessor applies at inference (bilinear with
antialiasing), and stored as uint8 ``(frames, 3, height, width)`` ``.npy`` files. Data-loader workers open them
with ``mmap_mode="r"``: the OS page cache holds one copy for all workers and all runs.

A cache lives in ``<cache dir>/<dataset name>-<hash of its path>/<height>x<width>/``; ``meta.json`` holds the
fingerprint of the dataset (its metadata and the sizes and times of its video files). Reusing a cache whose
fingerprint differs would train on stale frames, so it is rebuilt instead.

Size: ``frames x cameras x 3 x height x width`` bytes; 6,559 frames of two cameras at the default 228x304 is
2.73 GB (at 240x320 it would be 3.02 GB).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from so101.errors import DatasetError

if TYPE_CHECKING:
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

CACHE_FORMAT = 1
"""Bump when the file layout or the resize operator changes: old caches are rebuilt."""
DEFAULT_CACHE_DIR = Path(os.environ.get("SO101_CACHE_DIR", Path.home() / ".cache" / "so101" / "frames"))


@dataclass
class FrameCache:
    """An opened cache: one uint8 array (N, 3, H, W) per camera, indexed by the dataset's global frame index."""

    directory: Path
    cameras: list[str]
    height: int
    width: int
    num_frames: int

    def path(self, camera: str) -> Path:
        return self.directory / f"{camera}.npy"

    def open(self, camera: str) -> np.ndarray:
        """Memory-map one camera's frames read-only (cheap; call in each worker process)."""
        return np.load(self.path(camera), mmap_mode="r")

    @property
    def nbytes(self) -> int:
        return self.num_frames * len(self.cameras) * 3 * self.height * self.width


def bytes_per_frame(cameras: int, height: int, width: int) -> int:
    """Cache bytes per dataset frame: uint8 RGB of every camera."""
    return cameras * 3 * height * width


def format_bytes(size: int) -> str:
    return f"{size / 1e9:.2f} GB ({size / 2**30:.2f} GiB)" if size >= 1e8 else f"{size / 1e6:.1f} MB"


def dataset_fingerprint(meta: LeRobotDatasetMetadata, cameras: list[str]) -> str:
    """Changes when the dataset's frames could have changed: metadata, episode index, video files."""
    digest = hashlib.sha256()
    root = Path(meta.root)
    digest.update((root / "meta" / "info.json").read_bytes())
    for path in sorted((root / "meta" / "episodes").rglob("*.parquet")):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    for camera in cameras:
        for path in sorted((root / "videos" / f"observation.images.{camera}").rglob("*.mp4")):
            stat = path.stat()
            digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def cache_directory(cache_dir: Path, meta: LeRobotDatasetMetadata, height: int, width: int) -> Path:
    root = Path(meta.root).resolve()
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in root.name)
    return Path(cache_dir) / f"{name}-{hashlib.sha1(str(root).encode()).hexdigest()[:10]}" / f"{height}x{width}"


def load_or_build(
    meta: LeRobotDatasetMetadata,
    cameras: list[str],
    height: int,
    width: int,
    cache_dir: Path | None = None,
    log: Any = print,
) -> FrameCache:
    """The cache of ``cameras`` at ``height`` x ``width``: reused when valid, (re)built otherwise; its size logged."""
    directory = cache_directory(cache_dir or DEFAULT_CACHE_DIR, meta, height, width)
    fingerprint = dataset_fingerprint(meta, cameras)
    cache = FrameCache(directory, list(cameras), height, width, meta.total_frames)
    meta_path = directory / "meta.json"
    if meta_path.is_file():
        saved = json.loads(meta_path.read_text())
        if (
            saved.get("format") == CACHE_FORMAT
            and saved.get("fingerprint") == fingerprint
            and all(cache.path(camera).is_file() for camera in cameras)
        ):
            log(f"frame cache: reusing {directory} ({format_bytes(cache.nbytes)})")
            return cache
        log(f"frame cache: {directory} is stale (dataset, cameras or format changed); rebuilding")
    log(
        f"frame cache: decoding {meta.total_frames} frames x {len(cameras)} camera(s) at {height}x{width} "
        f"into {directory} ({format_bytes(cache.nbytes)})"
    )
    start = time.perf_counter()
    build(meta, cameras, height, width, directory)
    meta_path.write_text(
        json.dumps({"format": CACHE_FORMAT, "fingerprint": fingerprint, "cameras": list(cameras),
                    "height": height, "width": width, "num_frames": meta.total_frames, "dataset": str(meta.root)})
    )
    log(f"frame cache: built in {time.perf_counter() - start:.1f} s, {format_bytes(cache.nbytes)} on disk")
    return cache


def build(meta: LeRobotDatasetMetadata, cameras: list[str], height: int, width: int, directory: Path) -> None:
    """Decode every frame of every camera into ``directory`` (written next to it, then moved in place)."""
    from so101.recording.video_checks import check_videos

    # A damaged video would fail halfway through the decoding below, or fill the cache with wrong frames.
    check_videos(Path(meta.root), meta.info, "--dataset.root")
    directory = Path(directory)
    staging = directory.with_name(directory.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for camera in cameras:
        frames = np.lib.format.open_memmap(
            staging / f"{camera}.npy", mode="w+", dtype=np.uint8, shape=(meta.total_frames, 3, height, width)
        )
        _decode_camera(meta, f"observation.images.{camera}", frames, height, width)
        frames.flush()
        del frames
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (N, H0, W0, 3) -> uint8 (N, 3, height, width), with the preprocessor's resize (bilinear, antialiased)."""
    import torch
    import torchvision.transforms.functional as F

    images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    if images.shape[-2:] != (height, width):
        images = F.resize(images, [height, width], antialias=True).clamp_(0.0, 1.0)
    return images.mul_(255.0).round_().to(torch.uint8).numpy()


def _flush(
    frames: list[np.ndarray], targets: list[int], out: np.ndarray, filled: np.ndarray, height: int, width: int
) -> None:
    """Resize decoded frames (H, W, 3) into their rows of ``out``, mark them filled, and empty both lists."""
    if frames:
        out[targets] = resize_frames(np.stack(frames), height, width)
        filled[targets] = True
        frames.clear()
        targets.clear()


def _decode_camera(meta: LeRobotDatasetMetadata, key: str, out: np.ndarray, height: int, width: int) -> None:
    """Fill ``out`` (N, 3, H, W) with the frames of one camera, decoding each video file once, in order."""
    import av

    episodes = meta.episodes
    files: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for episode in episodes:
        file_key = (episode[f"videos/{key}/chunk_index"], episode[f"videos/{key}/file_index"])
        files.setdefault(file_key, []).append(episode)
    fps = meta.fps
    filled = np.zeros(len(out), dtype=bool)
    for (chunk, file), file_episodes in sorted(files.items()):
        path = Path(meta.root) / meta.video_path.format(video_key=key, chunk_index=chunk, file_index=file)
        # Frame k of the file (time k / fps) belongs to the episode whose [from, to) timestamps contain it.
        spans = sorted(
            (round(ep[f"videos/{key}/from_timestamp"] * fps), ep["dataset_from_index"], ep["dataset_to_index"])
            for ep in file_episodes
        )
        batch_frames: list[np.ndarray] = []
        batch_targets: list[int] = []
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                k = round(float(frame.pts * frame.time_base) * fps)
                for first, start, stop in spans:
                    if first <= k < first + (stop - start):
                        batch_frames.append(frame.to_ndarray(format="rgb24"))
                        batch_targets.append(start + k - first)
                        break
                if len(batch_frames) >= 64:
                    _flush(batch_frames, batch_targets, out, filled, height, width)
            _flush(batch_frames, batch_targets, out, filled, height, width)
    if not filled.all():
        missing = np.flatnonzero(~filled)
        raise DatasetError(
            f"{key}: {len(missing)} frames (first: index {missing[0]}) are missing from the videos of {meta.root}; "
            "the dataset is incomplete or its episode metadata does not match its videos (so101 dataset validate)"
        )
