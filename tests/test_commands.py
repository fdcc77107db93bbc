"""Every subcommand, given bad input, prints one line naming the problem and the fix, and exits 2.

Bad input: an unknown option, a nonexistent path, a negative count, a missing device. The commands run in this
process through ``so101.cli.main``, exactly as the console script runs them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from so101.cli import COMMANDS, Command, main

MISSING = "/nonexistent/so101"
"""A path that exists on no machine."""


def leaves() -> list[list[str]]:
    found: list[list[str]] = []
    for name, entry in COMMANDS.items():
        if isinstance(entry, Command):
            found.append([name])
        else:
            found += [[name, sub] for sub in entry]
    return found


def assert_one_line_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    status = main(argv)
    err = capsys.readouterr().err.strip()
    assert status == 2, f"so101 {' '.join(argv)} exited {status}: {err}"
    assert len(err.splitlines()) == 1, f"more than one line for so101 {' '.join(argv)}:\n{err}"
    assert err.startswith(f"so101 {argv[0]}"), err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    return err


@pytest.mark.parametrize("command", leaves(), ids=" ".join)
def test_an_unknown_option_is_refused_by_name(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_usage_error([*command, "--no_such_option", "1"], capsys, "unknown option --no_such_option")


def test_a_renamed_flag_points_to_its_new_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_usage_error(["record", "--fps", "15"], capsys, "--scene.fps")
    assert_one_line_usage_error(["rollout", "--width", "320"], capsys, "--cameras.width")


BAD_INPUTS: list[tuple[list[str], tuple[str, ...]]] = [
    # negative counts and out-of-range values
    (["record", "--episodes", "-1"], ("--episodes", "at least 1")),
    (["record", "--cameras.width", "-10"], ("--cameras.width", "at least 16")),
    (["record", "--cameras.render_profile", "ultra"], ("ultra", "fast")),
    (["record", "--cameras.names", "[periscope]"], ("periscope", "overhead_cam")),
    (["record", "--scene.brick", "3x3"], ("3x3", "2x4")),
    (["record", "--teleop", "joystick"], ("joystick", "scripted")),
    (["rollout", "--scenes", "-1"], ("--scenes",)),
    (["replay", "--episode", "-2"], ("--episode",)),
    (["bench", "record", "--episodes", "0"], ("--episodes",)),
    (["bench", "expert", "--episodes", "0"], ("--episodes",)),
    (["bench", "leader", "--duration_s", "-1"], ("--duration_s",)),
    (["emulate", "leader", "--duration_s", "-1"], ("--duration_s",)),
    (["emulate", "robot"], ("follower", "leader")),
    (["emulate", "follower", "--camera_width", "4"], ("--camera_width",)),
    (["deploy", "--robot.port", "/dev/ttyACM0", "--robot.id", "f"], ("--policy.path",)),
    (["deploy", "--policy.path", "ckpt", "--robot.id", "f"], ("--robot.port",)),
    (["deploy", "--policy.path", "ckpt"], ("--robot.port",)),
    (["deploy", "--policy.path", "ckpt", "--robot.port", "p", "--robot.id", "f", "--allow", "speed"],
     ("--allow", "timing")),
    (["deploy", "--policy.path", "ckpt", "--robot.port", "p", "--robot.id", "f", "--safety.max_step_deg", "0"],
     ("--safety.max_step_deg",)),
    (["deploy", "--policy.path", MISSING, "--robot.port", "p", "--robot.id", "f"], (MISSING,)),
    (["bench", "deploy", "--duration_s", "0"], ("--duration_s",)),
    (["eval", "checkpoint", "--episodes", "-1"], ("--episodes",)),
    (["train", "--steps", "-1"], ("--steps",)),
    (["bench", "eval", "--episodes", "0"], ("--episodes",)),
    (["vr", "--vr.motion_scale", "0"], ("--vr.motion_scale",)),
    (["vr", "--vr.graphics", "vulkan"], ("vulkan", "egl")),
    (["record", "--teleop", "vr", "--vr.hand", "third"], ("third", "right")),
    (["bench", "vr", "--duration_s", "0"], ("--duration_s",)),
    # nonexistent paths
    (["eval", MISSING], (MISSING,)),
    (["train", "--dataset.root", MISSING], (MISSING, "so101 record")),
    (["bench", "train", "--dataset.root", MISSING], (MISSING,)),
    (["record", "--scene.robot_xml", f"{MISSING}/arm.xml"], (f"{MISSING}/arm.xml", "MJCF")),
    (["view", "--scene.robot_xml", f"{MISSING}/arm.xml"], (f"{MISSING}/arm.xml",)),
    (["rollout", "--scene.robot_xml", f"{MISSING}/arm.xml"], (f"{MISSING}/arm.xml",)),
    (["replay", "--dataset.root", MISSING], (MISSING,)),
    (["dataset", "info", "--dataset.root", MISSING], (MISSING, "--dataset.root")),
    (["dataset", "validate", "--dataset.root", MISSING], (MISSING, "--dataset.root")),
    (["dataset", "export-hdf5", "--dataset.root", MISSING, "--output", f"{MISSING}/h5"], (MISSING, "--dataset.root")),
    (["dataset", "export-hdf5", "--dataset.root", MISSING], ("--output",)),
    (
        ["dataset", "import-hdf5", "--input", f"{MISSING}/a.hdf5", "--dataset.root", f"{MISSING}/d"],
        (f"{MISSING}/a.hdf5",),
    ),
    (["dataset", "import-hdf5", "--dataset.root", f"{MISSING}/d"], ("--input",)),
    (["diagnose", "--train.root", MISSING, "--eval.root", MISSING], ("--train.root", MISSING)),
    (["diagnose", "--frames_per_episode", "0"], ("--frames_per_episode",)),
    (["dataset", "repair", "--dataset.root", MISSING], (MISSING, "--dataset.root", "does not exist")),
    (["dataset", "delete-episodes", "--dataset.root", MISSING, "--episodes", "[1]"], (MISSING, "does not exist")),
    (["dataset", "delete-episodes", "--dataset.root", MISSING], ("--episodes", "[1, 3]")),
    (["bench", "ik", "--model", f"{MISSING}/arm.xml"], (f"{MISSING}/arm.xml",)),
    (["convert-ee", "--src.root", MISSING, "--dst.root", f"{MISSING}/ee"], (MISSING, "--src.root")),
    (["convert-ee", "--rotation", "euler"], ("euler", "rotvec")),
    (["convert-ee", "--units", "radians"], ("radians", "degrees")),
    # missing devices
    (["teleop", "--leader.port", f"{MISSING}/ttyACM0", "--leader.id", "arm"], (f"{MISSING}/ttyACM0",)),
    (["calibrate-leader", "--leader.port", f"{MISSING}/ttyACM0", "--leader.id", "arm"], (f"{MISSING}/ttyACM0",)),
    (
        ["record", "--teleop", "leader", "--leader.port", f"{MISSING}/ttyACM0", "--leader.id", "arm"],
        (f"{MISSING}/ttyACM0",),
    ),
]


@pytest.mark.parametrize(("argv", "fragments"), BAD_INPUTS, ids=lambda value: " ".join(value)[:60])
def test_bad_input_is_one_line_naming_the_fix(
    argv: list[str], fragments: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_one_line_usage_error(argv, capsys, *fragments)


def test_merge_names_a_missing_input_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["dataset", "merge", "--roots", f"[{MISSING}/a, {MISSING}/b]", "--output.root", str(tmp_path / "out")]
    assert_one_line_usage_error(argv, capsys, f"{MISSING}/a")
    assert not (tmp_path / "out").exists()


def test_a_window_without_a_display_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert_one_line_usage_error(["view", "--frames", "1"], capsys, "xvfb-run")


def test_help_survives_a_percent_sign_in_an_option_docstring(capsys: pytest.CaptureFixture[str]) -> None:
    from dataclasses import dataclass

    from so101.command import run_command

    @dataclass
    class Options:
        share: float = 0.1
        """Fraction of the data, e.g. 10 % of it."""

    assert run_command("demo", Options, lambda _cfg: 0, ["--help"]) == 0
    assert "10 % of it" in capsys.readouterr().out


def test_an_unexpected_argument_and_a_missing_value_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_usage_error(["record", "stray"], capsys, "'stray'")
    assert_one_line_usage_error(["record", "--episodes"], capsys, "--episodes needs a value")
    assert_one_line_usage_error(["record", "--episodes", "many"], capsys, "many")


def command_configs(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[type, str | None]]:
    """Every subcommand's options dataclass and the option its bare argument fills, as its main function hands
    them to ``so101.command.parse``."""
    import so101.command

    found: dict[str, tuple[type, str | None]] = {}

    def capture(config_class: type, argv: list[str], command: str, positional: str | None = None) -> None:
        found[command] = (config_class, positional)
        raise SystemExit(0)

    with monkeypatch.context() as patch:
        patch.setattr(so101.command, "parse", capture)
        for command in leaves():
            assert main([*command, "--help"]) == 0
    assert sorted(found) == sorted(" ".join(command) for command in leaves())
    return found


def test_help_works_after_every_option_of_every_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import functools

    from draccus.wrappers import docstring

    from so101.command import option_types, parse
    from so101.lerobot_compat import patch_draccus

    patch_draccus()  # first, so that the cache below keeps its escaping of "%"
    # draccus reads every option's docstring from the source at each parse (0.8 s a command): read each once.
    monkeypatch.setattr(docstring, "get_attribute_docstring", functools.cache(docstring.get_attribute_docstring))
    tried = 0
    for command, (config_class, positional) in command_configs(monkeypatch).items():
        # "X" is no value of most options (a number, a choice): the help must not depend on the values before it.
        attempts = [[f"--{name}", "X", "--help"] for name in option_types(config_class)]
        attempts += [["X", "--help"], ["X", "-h"]] if positional else []
        for argv in attempts:
            with pytest.raises(SystemExit) as exit_:
                parse(config_class, argv, command, positional)
            assert exit_.value.code in (0, None), (command, argv)
            assert capsys.readouterr().out.startswith(f"usage: so101 {command} "), (command, argv)
            tried += 1
    assert tried > 400


@pytest.mark.parametrize(
    "argv", [["emulate", "follower", "--help"], ["record", "--dataset.root", "X", "--help"]], ids=" ".join
)
def test_help_after_an_option_from_the_console(argv: list[str]) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "so101", *argv], capture_output=True, text=True, cwd=root, timeout=300,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert done.returncode == 0 and done.stdout.startswith(f"usage: so101 {argv[0]} "), done.stderr
    assert "Traceback" not in done.stderr
