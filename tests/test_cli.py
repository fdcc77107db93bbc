"""The ``so101`` dispatcher."""

from __future__ import annotations

import pytest

from sim.cli import BENCHMARKS, COMMANDS, main


def test_help_lists_every_command_and_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for name in [*COMMANDS, *BENCHMARKS]:
        assert name in text


def test_unknown_command_and_benchmark_fail_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fly"]) == 2
    assert "unknown command 'fly'" in capsys.readouterr().err
    assert main(["bench", "everything"]) == 2
    assert "choose one of" in capsys.readouterr().err


def test_every_command_module_has_a_main() -> None:
    import importlib

    for module_name, _ in [*COMMANDS.values(), *BENCHMARKS.values()]:
        if module_name:
            assert callable(importlib.import_module(module_name).main)
