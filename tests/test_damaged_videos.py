"""Damaged videos: every command that reads a dataset's videos names the damaged file before it decodes a frame.

A truncated video, or one with flipped bytes, passes every check of the metadata: its size is not zero and its
episodes' timestamps are where they should be. ``dataset validate``, ``dataset export-hdf5``, ``convert-ee``,
``dataset merge``, ``dataset delete-episodes`` and ``train`` (its frame cache) must each exit 2 with one line on
stderr that names the video, never a traceback, write no output, and leave every byte of the dataset as it was.
``convert-ee`` in particular must not copy the broken video into a complete-looking dataset.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TINY_REPO_ID
from test_dataset_corruption import VIDEO, flip_bytes, folder_hash, truncate, without_hashes

from so101.cli import main as so101_main


def cut(fraction: float) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        data = (root / VIDEO).read_bytes()
        (root / VIDEO).write_bytes(data[: int(len(data) * fraction)])

    return apply


def flip_index(root: Path) -> None:
    """Bytes of the video's index (the ``moov`` box LeRobot's encoder writes at the end) inverted."""
    flip_bytes(root / VIDEO, (root / VIDEO).stat().st_size - 300)


def flip_frame(root: Path) -> None:
    """Bytes inside a frame inverted: the file still decodes, to wrong pixels; only its digest tells."""
    flip_bytes(root / VIDEO, (root / VIDEO).stat().st_size // 3)


def fewer_frames(root: Path) -> None:
    """The video replaced by a sound one of its first 20 frames: it decodes, to half of its episode."""
    import av

    with av.open(str(root / VIDEO)) as source:
        stream = source.streams.video[0]
        codec, rate = stream.codec_context.name, stream.average_rate
        frames = [frame.to_ndarray(format="rgb24") for _, frame in zip(range(20), source.decode(stream), strict=False)]
    with av.open(str(root / VIDEO), "w", format="mp4") as target:
        out = target.add_stream(codec, rate=rate)
        out.width, out.height, out.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for pixels in frames:
            target.mux(out.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        target.mux(out.encode())


def other_shape(root: Path) -> None:
    info = json.loads((root / "meta/info.json").read_text())
    info["features"]["observation.images.wrist_cam"]["shape"] = [64, 128, 3]
    (root / "meta/info.json").write_text(json.dumps(info))


# (name, damage, a word of the problem)
CASES: list[tuple[str, Callable[[Path], None], str]] = [
    ("video truncated to 50%", lambda r: truncate(r / VIDEO), "SHA-256"),
    ("video truncated to 97%", cut(0.97), "SHA-256"),
    ("flipped bytes in the video's index", flip_index, "SHA-256"),
    ("flipped bytes inside a frame", flip_frame, "SHA-256"),
    ("the video of another episode", lambda r: shutil.copy(r / VIDEO.with_stem("file-001"), r / VIDEO), "SHA-256"),
    ("video truncated to 50%, no content hashes", without_hashes(lambda r: truncate(r / VIDEO)), "PyAV cannot decode"),
    ("video truncated to 97%, no content hashes", without_hashes(cut(0.97)), "PyAV cannot decode"),
    ("flipped index, no content hashes", without_hashes(flip_index), "PyAV cannot decode"),
    ("a sound video of half the episode, no content hashes", without_hashes(fewer_frames), "decodes to 20 frame(s)"),
    ("image shape in info.json not the video's", other_shape, "meta/info.json describes"),
]


def commands(root: Path, out: Path, twin: Path) -> dict[str, list[str]]:
    dataset = ["--dataset.root", str(root), "--dataset.repo_id", TINY_REPO_ID]
    return {
        "validate": ["dataset", "validate", *dataset],
        "export-hdf5": ["dataset", "export-hdf5", *dataset, "--output", str(out / "hdf5")],
        "convert-ee": ["convert-ee", "--src.root", str(root), "--dst.root", str(out / "ee"), "--verify", "false"],
        "merge": ["dataset", "merge", "--roots", f"[{root}, {twin}]", "--output.root", str(out / "merged")],
        "delete-episodes": ["dataset", "delete-episodes", *dataset, "--episodes", "[0]", "--output", str(out / "del")],
        "train": ["train", *dataset, "--steps", "1", "--output_dir", str(out / "run"), "--cache_dir",
                  str(out / "cache"), "--wandb.mode", "disabled", "--num_workers", "0"],
    }  # fmt: skip


@pytest.mark.parametrize(("name", "damage", "problem"), CASES, ids=[case[0] for case in CASES])
def test_every_command_that_reads_videos_names_the_damaged_one(
    name: str, damage: Callable[[Path], None], problem: str, tiny_dataset: Path, tmp_path: Path, capsys
) -> None:
    root = Path(shutil.copytree(tiny_dataset, tmp_path / "dataset"))
    damage(root)
    # Merged with a copy of itself: the two are compatible, so merge goes on to read the videos.
    twin = Path(shutil.copytree(root, tmp_path / "twin"))
    before = folder_hash(root)
    out = tmp_path / "out"
    for command, argv in commands(root, out, twin).items():
        status = so101_main(argv)
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert status == 2 and len(lines) == 1, f"{command} on {name}: exit {status}\n{captured.err}{captured.out}"
        # A shape edited in info.json is found in the camera's first video the command reads.
        named = str(VIDEO) if "info.json" not in name else str(VIDEO.parent / "file-00")
        assert named in lines[0] and problem in lines[0], f"{command} on {name}: {lines[0]}"
        assert "so101 dataset repair" in lines[0] or "meta/info.json" in lines[0], lines[0]
        assert folder_hash(root) == before, f"{command} modified the dataset ({name})"
    written = [path.name for path in out.iterdir()] if out.exists() else []
    assert set(written) <= {"run"}, f"outputs written from a damaged dataset: {written}"
    assert not (out / "cache").exists(), "the frame cache holds frames of a damaged video"


def test_videos_that_passed_are_remembered_by_their_inode_size_and_time(tiny_dataset: Path) -> None:
    from so101.recording.dataset_checks import read_info
    from so101.recording.video_checks import _VERIFIED, check_videos

    info = read_info(tiny_dataset, "--dataset.root")
    check_videos(tiny_dataset, info, "--dataset.root")
    videos = {entry[0] for entry in _VERIFIED}
    assert str((tiny_dataset / VIDEO).resolve()) in videos and len(videos) >= 8


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 10
