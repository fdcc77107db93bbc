"""The terminal side of a VR session: which stdin gives keys, keys from a pipe and from a real pseudo-terminal,
the status line on a terminal and in a log, and a whole headless VR recording driven through stdin against Monado
(teleop/vr/terminal.py, teleop/vr/source.py, recording/record.py)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from monado import ENVIRONMENT, monado  # noqa: F401  (fixture)

from so101.teleop.vr.terminal import LOG_EVERY_S, StatusLine, TerminalKeys, stdin_mode


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, int]]:
    """A real pseudo-terminal: (master, slave) descriptors."""
    master, slave = os.openpty()
    try:
        yield master, slave
    finally:
        os.close(master)
        os.close(slave)


def take_all(keys: TerminalKeys, count: int) -> list[str]:
    """The next ``count`` buttons, waiting for the reading thread to deliver them."""
    got: list[str] = []
    done = threading.Event()
    while len(got) < count:
        button = keys.take()
        if button is None:
            done.wait(0.01)
        else:
            got.append(button)
    return got


def test_only_a_terminal_or_a_pipe_gives_keys(tmp_path: Path, pty_pair: tuple[int, int]) -> None:
    _master, slave = pty_pair
    read_end, write_end = os.pipe()
    regular = tmp_path / "keys.txt"
    regular.write_text("q\n")
    closed = open(os.devnull)  # noqa: SIM115
    closed.close()
    with (
        open(os.devnull) as null,
        os.fdopen(read_end) as pipe,
        open(regular) as file,
        os.fdopen(slave, closefd=False) as tty,
    ):
        assert stdin_mode(pipe) == "pipe"
        assert stdin_mode(tty) == "tty"
        assert stdin_mode(null) is None  # /dev/null: nobody types there
        assert stdin_mode(file) is None  # a regular file would press every key at once
        assert stdin_mode(closed) is None
        assert stdin_mode(None) is None
        assert stdin_mode(io.StringIO("q\n")) is None  # no descriptor (a test's replaced stdin)
        keys = TerminalKeys(null)
        assert not keys.start() and keys.take() is None
        keys.close()
    os.close(write_end)


def test_keys_from_a_pipe_are_lines_and_its_end_ends_nothing() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as pipe:
        keys = TerminalKeys(pipe)
        assert keys.start() and keys.mode == "pipe"
        try:
            # An empty line is Enter; a line's first character is its key; unknown keys and the rest are ignored.
            os.write(write_end, b"\nrecord again\nC\nx\nq")
            assert take_all(keys, 4) == ["start_save", "rerecord", "recenter", "stop"]
            os.close(write_end)  # the writer goes away: no more keys, no error
            assert keys.take() is None
        finally:
            keys.close()


def test_keys_on_a_terminal_act_at_once_and_the_terminal_is_restored(pty_pair: tuple[int, int]) -> None:
    master, slave = pty_pair
    before = termios.tcgetattr(slave)
    with os.fdopen(slave, closefd=False) as tty:
        keys = TerminalKeys(tty)
        assert keys.start() and keys.mode == "tty"
        try:
            assert not termios.tcgetattr(slave)[3] & termios.ICANON  # cbreak: no Enter needed after a key
            # The terminal turns Enter's carriage return into a newline; arrow keys (right: ESC [ C) are no keys.
            os.write(master, b"\x1b[C\x1b[Dr\x1bOCq\r")
            assert take_all(keys, 3) == ["rerecord", "stop", "start_save"]
            assert keys.take() is None
        finally:
            keys.close()
    assert termios.tcgetattr(slave) == before


def test_the_status_line_is_live_on_a_terminal_and_one_line_per_change_in_a_log(pty_pair: tuple[int, int]) -> None:
    log = io.StringIO()
    line = StatusLine(log)
    assert not line.live
    line.show("1 waiting", "episode 1/2: waiting to start")
    line.show("1 waiting", "episode 1/2: waiting to start")
    for step in range(int(2.5 * LOG_EVERY_S * 10)):
        line.show("1 recording", f"episode 1/2: recording {step / 10:.1f} of 30 s", step / 10)
    line.say("episode 1/2: saved")
    assert log.getvalue().splitlines() == [
        "episode 1/2: waiting to start",
        "episode 1/2: recording 0.0 of 30 s",
        f"episode 1/2: recording {LOG_EVERY_S:.1f} of 30 s",
        f"episode 1/2: recording {2 * LOG_EVERY_S:.1f} of 30 s",
        "episode 1/2: saved",
    ]
    master, slave = pty_pair
    with os.fdopen(slave, "w", closefd=False) as tty:
        live = StatusLine(tty)
        assert live.live
        live.show("1 waiting", "episode 1/2: waiting to start")
        live.show("1 recording", "episode 1/2: recording 0.0 of 30 s")
        live.close()
    shown = ""
    while not shown.endswith("\r\x1b[K"):  # what the terminal received, up to the clearing on close
        shown += os.read(master, 4096).decode()
    assert "\n" not in shown.replace("\r\n", "")  # rewritten in place: no new line
    assert shown.startswith("\repisode 1/2: waiting to start") and shown.endswith("\r\x1b[K")


def test_a_broken_stdout_silences_the_status_line_only() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader went away (``so101 record ... | head -1``)
    broken = os.fdopen(write_end, "w")
    line = StatusLine(broken)
    line.show("1 waiting", "episode 1/1: waiting to start")  # EPIPE: no exception
    line.say("vr: keys here")
    assert line.stream is None
    with contextlib.suppress(BrokenPipeError):  # what is still buffered cannot go anywhere either
        broken.close()


def test_a_headless_vr_recording_driven_from_stdin(monado: Path, tmp_path: Path) -> None:  # noqa: F811
    """``so101 record --teleop vr`` with no display, Monado's simulated headset and a pipe on stdin: the status
    lines say what to press; Enter starts, r records again, Enter saves, q stops; the dataset is LeRobot's."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from so101.recording.scene_metadata import SceneMetadata

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "XRT_LOG")}
    env.update({k: v for k, v in ENVIRONMENT.items() if k != "XRT_LOG"})  # Monado's own log level left to so101
    root = tmp_path / "vr"
    command = [sys.executable, "-m", "so101", "record", "--teleop", "vr", "--episodes", "3",
               "--episode_time_s", "0.2", "--keep_failed", "true", "--dataset.repo_id", "test/so101_vr_stdin",
               "--dataset.root", str(root), "--cameras.width", "64", "--cameras.height", "48",
               "--vr.render_profile", "fast"]  # fmt: skip
    # The person at the terminal: what each status line asks for, in order (the first "recording" is re-recorded).
    replies = {"1 waiting": ["\n", "\n"], "1 recording": ["r\n", None], "2 waiting": ["\n"], "2 recording": ["\n"],
               "3 waiting": ["q\n"]}  # fmt: skip
    lines: list[str] = []
    with open(tmp_path / "stderr.txt", "w") as stderr:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env,
                                   text=True, cwd=tmp_path)  # fmt: skip
        watchdog = threading.Timer(300, process.kill)  # a hung session fails the test instead of hanging it
        watchdog.start()
        try:
            assert process.stdin is not None and process.stdout is not None
            for line in process.stdout:
                lines.append(line.rstrip("\n"))
                for state, answers in replies.items():
                    number, what = state.split()
                    if line.startswith(f"episode {number}/3: {what}") and answers:
                        answer = answers.pop(0)
                        if answer is not None:
                            process.stdin.write(answer)
                            process.stdin.flush()
            process.stdin.close()
            status = process.wait()
        finally:
            watchdog.cancel()
    out = "\n".join(lines)
    err = (tmp_path / "stderr.txt").read_text()
    assert status == 0, f"{out}\n{err}"
    assert lines[0].startswith("vr: keys here: Enter starts and saves an episode"), out
    assert "episode 1/3: to be recorded again" in out and "episode 1/3: timed out" in out
    assert "episode 2/3: ended by the user" in out and "saved as episode 1" in out
    assert "record: saved 2 episode(s)" in out and "stopped by the user" in out
    assert " INFO [" not in err and "Null compositor starting" not in err  # Monado's start-up report quieted
    dataset = LeRobotDataset("test/so101_vr_stdin", root=root)
    assert dataset.num_episodes == 2
    lengths = [int(dataset.meta.episodes[i]["length"]) for i in range(2)]
    assert lengths[0] == 6 and lengths[1] >= 1  # timed out after 0.2 s at 30 Hz; saved by Enter
    assert [episode.outcome for episode in SceneMetadata(root).episodes()] == ["timeout", "saved"]
