"""Videos checked to decode to what the dataset's metadata claims, before a command reads them.

A truncated video, or one whose bytes were overwritten, opens and lists its frame count like a sound one; PyAV
fails only when the frames are decoded, deep inside LeRobot's loader, the frame cache or the video concatenation of
``aggregate_datasets``. ``check_videos`` compares every video file the dataset's episodes use with its SHA-256 at
save (``content_hashes``, when the dataset has them: bytes flipped inside a frame still decode, to wrong pixels),
decodes it once, start to end (the demuxer and the decoder only: no conversion to RGB), and raises one
``DatasetError`` line naming the first file that differs, that decodes to fewer frames than ``meta/episodes`` places
in it, or to another frame size than ``meta/info.json`` describes. Files that passed are remembered for the rest of
the process by their inode, size and modification time, so a command that checks twice decodes once; a file that
failed is never remembered, and a changed file is decoded again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from so101.recording.dataset_checks import problem, read_parquet

_VERIFIED: set[tuple[str, int, int, int]] = set()
"""(path, inode, size, modification time in ns) of video files that decoded to what their dataset claims."""


@dataclass(frozen=True)
class VideoClaim:
    """What a dataset's metadata says one video file holds."""

    path: Path
    key: str
    """The camera's feature name (``observation.images.<camera>``)."""
    frames: int
    """Frames the file must hold at least: the end of its last episode, in frames."""
    size: tuple[int, int] | None
    """(width, height) in pixels from ``meta/info.json``; None when the feature does not say."""
    episodes: tuple[int, ...]


def frame_size(feature: dict[str, Any]) -> tuple[int, int] | None:
    """(width, height) of a video feature of ``meta/info.json`` (shape in the order its ``names`` give, LeRobot's
    default ``height, width, channels``)."""
    shape = feature.get("shape")
    if not isinstance(shape, (list, tuple)) or len(shape) != 3:  # LeRobot's loaded metadata holds tuples
        return None
    names = feature.get("names") or ["height", "width", "channels"]
    try:
        return int(shape[list(names).index("width")]), int(shape[list(names).index("height")])
    except (ValueError, TypeError):
        return None


def video_claims(root: Path, info: dict[str, Any], flag: str, episodes: set[int] | None = None) -> list[VideoClaim]:
    """The video files of the dataset at ``root`` (those of ``episodes`` only, when given) and what each holds."""
    keys = [key for key, feature in info["features"].items() if feature["dtype"] == "video"]
    if not keys:
        return []
    template = info.get("video_path")
    if not isinstance(template, str):
        raise problem(flag, root, root / "meta" / "info.json", "has video features but no 'video_path'")
    fps = int(info["fps"])
    claims: dict[Path, tuple[str, int, list[int]]] = {}
    for path in sorted((root / "meta" / "episodes").glob("*/*.parquet")):
        columns = [f"videos/{key}/{field}" for key in keys for field in ("chunk_index", "file_index", "to_timestamp")]
        table = read_parquet(root, path, flag, ["episode_index", *columns])
        for row in table.to_dict("records"):
            index = int(row["episode_index"])
            if episodes is not None and index not in episodes:
                continue
            for key in keys:
                video = root / template.format(
                    video_key=key,
                    chunk_index=int(row[f"videos/{key}/chunk_index"]),
                    file_index=int(row[f"videos/{key}/file_index"]),
                )
                _, frames, listed = claims.get(video, (key, 0, []))
                claims[video] = (key, max(frames, round(float(row[f"videos/{key}/to_timestamp"]) * fps)), listed)
                listed.append(index)
    return [
        VideoClaim(path, key, frames, frame_size(info["features"][key]), tuple(listed))
        for path, (key, frames, listed) in claims.items()
    ]


def check_videos(root: Path, info: dict[str, Any], flag: str, episodes: set[int] | None = None) -> None:
    """Decode every video file of the dataset at ``root`` (of ``episodes`` only, when given) and check it holds the
    frames and frame size the metadata claims.

    Raises:
        DatasetError: the first file that does not, named with what it holds and the fix.
    """
    from so101.recording.content_hashes import recorded

    try:
        digests = {name: digest for name, (digest, _) in recorded(root).items()}
    except ValueError:
        digests = {}  # check_openable names the damaged hashes file
    for claim in video_claims(root, info, flag, episodes):
        check_video(root, claim, flag, digests.get(str(claim.path.relative_to(root))))


def check_video(root: Path, claim: VideoClaim, flag: str, digest: str | None = None) -> None:
    """Compare ``claim.path`` with ``digest``, its SHA-256 at save when known (a flipped byte inside a frame still
    decodes), then decode it once and compare it with ``claim``; raises ``DatasetError`` naming the file."""
    import av

    from so101.recording.content_hashes import sha256

    path = claim.path
    owner = f"episode(s) {list(claim.episodes)}'s {claim.key}"
    if not path.is_file() or path.stat().st_size == 0:
        raise problem(flag, root, path, f"is missing or empty ({owner})")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED:
        return
    if digest is not None and sha256(path) != digest:
        raise problem(
            flag, root, path,
            f"is not the file that was saved (its SHA-256 differs from content_hashes.jsonl's: bit rot, or an edit; "
            f"{owner})",
        )
    frames, sizes = 0, set()
    # The decoder's complaints about a damaged file are the reason given below, not lines for the terminal (as in
    # so101 dataset repair, which expects damaged files too).
    av.logging.set_libav_level(av.logging.FATAL)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                frames += 1
                sizes.add((frame.width, frame.height))
    except (av.error.FFmpegError, OSError, IndexError) as error:
        reason = getattr(error, "strerror", None) or "it holds no video stream"
        what = f"PyAV cannot decode it after {frames} frame(s) ({reason}; {owner})"
        raise problem(flag, root, path, f"is truncated or damaged: {what}") from None
    if frames < claim.frames:
        raise problem(
            flag, root, path,
            f"decodes to {frames} frame(s), but meta/episodes places {claim.frames} in it ({owner}): the file is "
            "truncated or damaged",
        )
    if claim.size is not None and sizes != {claim.size}:
        found = ", ".join(f"{w}x{h}" for w, h in sorted(sizes))
        raise problem(
            flag, root, path,
            f"holds {found} frames, but meta/info.json describes {claim.key} as {claim.size[0]}x{claim.size[1]} "
            "(width x height)",
            "put back the shape the video was recorded at in meta/info.json, or run so101 dataset repair "
            f"--dataset.root {root}",
        )
    _VERIFIED.add(key)
