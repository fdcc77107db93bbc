"""Tests of so101.command itself: errors become one line and an exit status, library logs become plain lines."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from so101.command import run_command
from so101.errors import ConfigError, DatasetError


@dataclass
class _Options:
    count: int = 1
    """How many."""

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError("count", self.count, "must be at least 1")


def test_a_config_error_is_one_line_spelling_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command("probe", _Options, lambda cfg: 0, ["--count", "0"]) == 2
    assert capsys.readouterr().err == "so101 probe: --count must be at least 1, got 0\n"


def test_a_library_error_raised_by_the_body_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def body(cfg: _Options) -> int:
        raise DatasetError("/data/x: meta/info.json is missing; record the dataset again", path="/data/x")

    assert run_command("probe", _Options, body, []) == 2
    assert capsys.readouterr().err == "so101 probe: /data/x: meta/info.json is missing; record the dataset again\n"


def test_library_logs_are_the_commands_lines_only_while_it_runs(capsys: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("so101.recording.probe")

    def body(cfg: _Options) -> int:
        log.info("episode %d saved", cfg.count)
        log.warning("warning: the disk is nearly full")
        log.debug("not shown")
        return 0

    assert run_command("probe", _Options, body, ["--count", "3"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "episode 3 saved\n" and captured.err == "warning: the disk is nearly full\n"
    handlers = logging.getLogger("so101").handlers
    log.info("after the command")
    assert capsys.readouterr().out == "" and logging.getLogger("so101").handlers == handlers == []
