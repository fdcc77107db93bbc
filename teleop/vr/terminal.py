"""The terminal side of a VR session: a status line on stdout and the episode keys on stdin.

Without a headset worn, a mirror window or pressable buttons (a headless machine, Monado's simulated controllers)
the terminal is the only way to follow and drive a VR recording:

* ``StatusLine``: episode k/N and its state (waiting to start, recording with the elapsed time, paused). On a
  terminal one line is rewritten in place; anywhere else (a pipe, a log file) one line is printed per change of
  state, and every ``LOG_EVERY_S`` while recording.
* ``TerminalKeys``: keys typed on stdin, read on a thread of their own, each pressing its button once:
  Enter starts and saves an episode, ``r`` (or Backspace) records it again, ``c`` recenters, ``q`` stops. On a
  terminal in the foreground each key acts at once (the terminal is put in cbreak mode and restored); from a pipe
  each line is one key: its first character, and an empty line is Enter. Anything else on stdin (``/dev/null``, a
  regular file, a closed descriptor, a terminal of a background job) gives no keys: the session goes on without.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import select
import stat
import sys
import threading
import time
from typing import Any, Literal, TextIO

KEY_BUTTONS = {"\n": "start_save", "\r": "start_save", "r": "rerecord", "\x7f": "rerecord", "\b": "rerecord",
               "c": "recenter", "q": "stop"}  # fmt: skip
"""Key typed -> the button (``so101.teleop.vr.actions.BUTTONS``) it presses."""
KEY_HELP = "Enter starts and saves an episode, r records it again, c recenters, q stops"
LIVE_PERIOD_S = 0.25
"""Shortest time between two rewrites of the live line (s)."""
LOG_EVERY_S = 5.0
"""Away from a terminal, a recording line is printed each time this much episode time has passed (s)."""
StdinMode = Literal["tty", "pipe"]
_ESCAPE_SEQUENCE = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|O.|.)?")
"""A terminal's escape sequence (arrow and function keys: right arrow is ``ESC [ C``): never a key of ours."""


def stdin_mode(stream: Any) -> StdinMode | None:
    """How keys can be read from ``stream`` (stdin): ``tty`` (a terminal this process may read: not a background
    job's), ``pipe`` (a pipe or socket someone writes to), or None (no stream, a closed or replaced one,
    ``/dev/null``, a regular file)."""
    if stream is None:
        return None
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):  # closed, replaced (a test's capture), or descriptor 0 closed
        return None
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "pipe"
    if not os.isatty(fd):
        return None
    if os.name == "posix":
        try:
            foreground = os.tcgetpgrp(fd)
        except OSError:  # not this process's controlling terminal: no job control applies
            return "tty"
        if foreground != os.getpgrp():  # a background job: reading would stop the process (SIGTTIN)
            return None
    return "tty"


class TerminalKeys:
    """Episode keys from ``stream`` (default: ``sys.stdin``); ``start`` begins reading, ``take`` hands out one
    button per call, ``close`` stops reading and restores the terminal."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stdin
        self.mode: StdinMode | None = None
        """How keys are read (``stdin_mode``); None until started, and when there are none."""
        self._pressed: collections.deque[str] = collections.deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fd = -1
        self._saved_tty: Any = None
        self._line_start = True

    def start(self) -> bool:
        """Start reading keys; False (and nothing done) when ``stream`` gives none (see ``stdin_mode``)."""
        self.mode = stdin_mode(self.stream)
        if self.mode is None:
            return False
        self._fd = self.stream.fileno()
        if self.mode == "tty" and os.name == "posix":
            import termios
            import tty

            try:
                self._saved_tty = termios.tcgetattr(self._fd)
                tty.setcbreak(self._fd)  # each key arrives at once, unechoed; Ctrl-C still interrupts
            except termios.error:
                self._saved_tty = None
        self._thread = threading.Thread(target=self._read, name="vr-terminal-keys", daemon=True)
        self._thread.start()
        return True

    def take(self) -> str | None:
        """The next button pressed from the terminal (``KEY_BUTTONS``' values), or None."""
        try:
            return self._pressed.popleft()
        except IndexError:
            return None

    def close(self) -> None:
        """Stop reading and put the terminal back as it was (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
        if self._saved_tty is not None:
            import termios

            with contextlib.suppress(termios.error, OSError):  # a terminal that hung up has no mode to restore
                termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved_tty)
            self._saved_tty = None

    def feed(self, text: str) -> None:
        """Turn typed ``text`` into button presses: every key on a cbreak terminal, each line's first character
        otherwise (an empty line is Enter)."""
        by_line = self.mode != "tty" or self._saved_tty is None
        for char in _ESCAPE_SEQUENCE.sub("", text):
            if not by_line:
                button = KEY_BUTTONS.get(char.lower())
            elif char == "\r":
                continue
            elif char == "\n":
                button = "start_save" if self._line_start else None
                self._line_start = True
            elif self._line_start:
                button = KEY_BUTTONS.get(char.lower())
                self._line_start = False
            else:
                button = None
            if button is not None:
                self._pressed.append(button)

    def _read(self) -> None:
        """The reading thread: until closed, or the end of the stream (the writer closed the pipe)."""
        while not self._stop.is_set():
            if os.name == "posix":
                try:
                    ready = select.select([self._fd], [], [], 0.1)[0]
                except (OSError, ValueError):
                    return
                if not ready:
                    continue
            try:
                data = os.read(self._fd, 256)
            except OSError:
                return
            if not data:
                return
            self.feed(data.decode(errors="ignore"))


class StatusLine:
    """A session's state on ``stream`` (default: ``sys.stdout`` of the moment): rewritten in place on a terminal,
    one line per change elsewhere. A stream that fails (closed, a broken pipe) silences it: never the session."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream: TextIO | None = stream if stream is not None else sys.stdout
        try:
            self.live = bool(self.stream.isatty())
        except (AttributeError, ValueError, OSError):
            self.live = False
        self._text = ""
        self._state = ""
        self._mark = -1
        self._written_at = 0.0

    def say(self, text: str) -> None:
        """Print ``text`` as a line of its own (over the live line, which the next ``show`` draws again)."""
        self._write(("\r\x1b[K" if self.live else "") + text + "\n")
        self._text = ""

    def show(self, state: str, text: str, elapsed_s: float = 0.0) -> None:
        """Show ``text``, the line of ``state`` (the episode and what it does, e.g. ``2 recording``: a new state is
        written at once); ``elapsed_s``: the episode time recorded so far, which away from a terminal prints a line
        every ``LOG_EVERY_S``."""
        if self.live:
            now = time.perf_counter()
            if text == self._text or (state == self._state and now - self._written_at < LIVE_PERIOD_S):
                return
            self._write("\r" + text + "\x1b[K")
            self._written_at = now
        else:
            mark = int(elapsed_s // LOG_EVERY_S)
            if state == self._state and mark == self._mark:
                return
            self._write(text + "\n")
            self._mark = mark
        self._state, self._text = state, text

    def close(self) -> None:
        """Clear the live line, so that what follows starts on a clean line."""
        if self.live:
            self._write("\r\x1b[K")
        self._text = self._state = ""

    def _write(self, text: str) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.stream = None
