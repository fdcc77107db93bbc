"""A full disk: recording refuses to start without room for an episode, and a disk that fills up mid-session ends
it with one clear line, every saved episode kept and nothing half-written. On a size-limited tmpfs the test mounts.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

from record_forker import Forker
from test_record_durability import check_loads, record_argv, reported_saved

from so101.recording.disk_space import episode_bytes, is_disk_full
from so101.recording.durable_root import work_dir


def fill(disk: Path, leave: int = 0) -> Path:
    """Write a file that takes the disk's free space but ``leave`` bytes; returns it."""
    filler = disk / "filler"
    with open(filler, "ab") as stream:
        chunk = b"\0" * 65536
        while True:
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            if free <= leave:
                break
            try:
                stream.write(chunk[: max(4096, min(len(chunk), free - leave))])
                stream.flush()
            except OSError as error:
                assert error.errno == errno.ENOSPC
                break
    return filler


def test_an_episode_estimate_grows_with_cameras_and_length() -> None:
    one = episode_bytes(30, 10.0, [(640, 480)])
    assert episode_bytes(30, 20.0, [(640, 480)]) == 2 * one
    assert episode_bytes(30, 10.0, [(640, 480), (640, 480)]) > 1.9 * one
    assert 0.5e6 < one < 20e6


def test_disk_full_is_recognized_through_causes_and_thread_messages() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(RuntimeError("Encoder thread for x failed: [Errno 28] No space left on device"))
    try:
        try:
            raise OSError(errno.ENOSPC, "full")
        except OSError as inner:
            raise RuntimeError("save failed") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert not is_disk_full(OSError(errno.EACCES, "denied"))


def test_refuses_to_start_without_room_for_one_episode(small_disk: Path, tmp_path: Path) -> None:
    fill(small_disk, leave=512 * 1024)
    forker = Forker()
    try:
        log = tmp_path / "refused.log"
        assert forker.run(record_argv(small_disk / "dataset", 2), log) == 2
    finally:
        forker.close()
    lines = log.read_text().strip().splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert "free" in line and "one episode needs about" in line and "--dataset.root" in line
    assert not (small_disk / "dataset").exists() and not work_dir(small_disk / "dataset").exists()


def test_a_disk_filling_up_ends_the_session_keeping_every_saved_episode(small_disk: Path, tmp_path: Path) -> None:
    root = small_disk / "dataset"
    log = tmp_path / "full.log"
    forker = Forker()
    try:
        forker.submit(record_argv(root, 50), log)
        deadline = time.monotonic() + 120
        while "saved as episode 0" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "no episode saved"
            time.sleep(0.05)
        filler = fill(small_disk)
        assert forker.wait() == 1
        text = log.read_text()
        assert "is full" in text and "an episode needs about" in text and "--resume true" in text
        assert "Traceback" not in text
        saved = reported_saved(log)
        assert 1 <= saved < 50 and check_loads(root) == saved
        # Nothing half-written: no work folder, no temporary video, nothing but the dataset and the filler.
        assert sorted(p.name for p in small_disk.iterdir()) == ["dataset", "filler"]
        filler.unlink()
        assert forker.run(record_argv(root, 2), tmp_path / "resume.log") == 0
        assert check_loads(root) == saved + 2
    finally:
        forker.close()
