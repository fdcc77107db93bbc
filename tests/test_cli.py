"""The ``so101`` dispatcher: one table of commands, groups included."""

from __future__ import annotations

import pytest

from so101.cli import COMMANDS, Command, main, resolve


def leaves() -> list[tuple[str, Command]]:
    found = []
    for name, entry in COMMANDS.items():
        if isinstance(entry, Command):
            found.append((name, entry))
        else:
            found += [(f"{name} {sub}", leaf) for sub, leaf in entry.items()]
    return found


def test_help_lists_every_command_and_group_member(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for name, _ in leaves():
        assert name in text


def test_unknown_command_and_benchmark_fail_with_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fly"]) == 2
    assert "unknown command 'fly'" in capsys.readouterr().err
    assert main(["bench", "everything"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'bench everything'" in err and "sim" in err and "record" in err
    assert main(["bench"]) == 0  # a group alone prints its own table
    assert "bench record" in capsys.readouterr().out


def test_every_command_target_is_a_main_function() -> None:
    for _name, leaf in leaves():
        assert callable(resolve(leaf.target)), leaf.target
