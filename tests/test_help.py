"""Every option of every subcommand has help text, printed once.

Walks ``so101 <command> --help`` for every leaf of ``so101.cli.COMMANDS`` (``dataset info``, ``bench sim``, ...)
and for both devices of ``so101 emulate``, in this process as the console script runs them, and reads the
options back from argparse's help layout: an option line, then its help on the same line or the indented lines
below it. draccus prints ``(default: ...)`` for an option without a docstring too, so that alone is not help.
"""

from __future__ import annotations

import re
import typing

import pytest

from so101.cli import COMMANDS, Command, main


def help_commands() -> list[list[str]]:
    """Every subcommand as typed, nested ones included."""
    from so101.teleop.emulate_cmd import Device

    found: list[list[str]] = []
    for name, entry in COMMANDS.items():
        if name == "emulate":
            found += [[name, device] for device in typing.get_args(Device)]
        elif isinstance(entry, Command):
            found.append([name])
        else:
            found += [[name, sub] for sub in entry]
    return found


OPTION = re.compile(r"^  (--[\w.\-]+)")
DEFAULT = re.compile(r"\(default:.*\)\s*$", re.DOTALL)


def option_help(text: str) -> list[tuple[str, str]]:
    """(option, help text without its ``(default: ...)``) for every option line of an argparse help, in order.

    An option's help starts two or more spaces after its name and type and goes on in the lines indented deeper
    than option lines; anything else (a group title, a group description, a blank line) ends it.
    """
    found: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        match = OPTION.match(line)
        if match:
            parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            current = [parts[1]] if len(parts) > 1 else []
            found.append((match.group(1), current))
        elif current is not None and line.startswith(" " * 4) and line.strip():
            current.append(line.strip())
        else:
            current = None
    return [(name, DEFAULT.sub("", " ".join(lines)).strip()) for name, lines in found]


def test_option_help_reads_argparse_layout() -> None:
    text = "\n".join([
        "options:",
        "  -h, --help            show this help message and exit",
        "  --episodes int        Episodes to run; between two, the arm holds",
        "                        still. (default: 1)",
        "",
        "DatasetRef ['dataset']:",
        "  The dataset to look at.",
        "",
        "  --dataset.repo_id str",
        "  --dataset.root [Path]",
        "                        Folder of the dataset. (default: None)",
        "  --robot.cameras Dict  ",
        "  --robot.port str      (default: )",
    ])  # fmt: skip
    assert option_help(text) == [
        ("--episodes", "Episodes to run; between two, the arm holds still."),
        ("--dataset.repo_id", ""),
        ("--dataset.root", "Folder of the dataset."),
        ("--robot.cameras", ""),
        ("--robot.port", ""),
    ]


def help_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    status = main([*argv, "--help"])
    captured = capsys.readouterr()
    assert status == 0, f"so101 {' '.join(argv)} --help exited {status}: {captured.err}"
    return captured.out


@pytest.mark.parametrize("command", help_commands(), ids=" ".join)
def test_every_option_has_help_text_once(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    options = option_help(help_text(command, capsys))
    assert options, f"so101 {' '.join(command)} --help lists no options"
    bare = [name for name, text in options if not re.search(r"[A-Za-z]", text)]
    assert not bare, f"so101 {' '.join(command)} --help: no help text for {', '.join(bare)}"
    names = [name for name, _ in options]
    repeated = sorted({name for name in names if names.count(name) > 1})
    assert not repeated, f"so101 {' '.join(command)} --help lists {', '.join(repeated)} more than once"


def test_every_subcommand_is_walked() -> None:
    walked = {" ".join(command) for command in help_commands()}
    assert {"dataset info", "bench sim", "emulate follower", "emulate leader", "deploy", "convert-ee"} <= walked
    assert "emulate" not in walked


def test_deploy_robot_type_shows_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    text = " ".join(help_text(["deploy"], capsys).split())
    assert "--robot.type" in text
    assert re.search(r"--robot\.type .*?\(default: so101_follower\)", text), text


def test_import_hdf5_does_not_offer_the_task_option_it_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    names = [name for name, _ in option_help(help_text(["dataset", "import-hdf5"], capsys))]
    assert "--task" in names
    assert "--dataset.task" not in names
