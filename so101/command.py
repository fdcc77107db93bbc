"""The one command layer: every subcommand parses its dataclass options and reports its errors here.

Options are draccus dataclasses in LeRobot's dotted style (``--dataset.root D``, ``--scene.brick 2x2``). On top of
draccus, every command accepts:

* ``--flag`` alone for a boolean option, the same as ``--flag true`` (``--flag false`` turns it off);
* dashes or underscores in option names (``--n-action-steps`` = ``--n_action_steps``);
* ``Literal`` option types (``--scene.brick 2x2``), which draccus 0.10 cannot decode by itself.

Outcomes and exit statuses, the same for every subcommand:

* a bad option, a bad path, bad input data or a missing device: one line ``so101 <command>: <problem and fix>``
  on stderr, exit 2. Code raises an error of ``so101.errors`` (or ``FileNotFoundError``/``FileExistsError``) for
  these; this layer alone spells options as flags (``ConfigError.one_line(as_flag)``);
* Ctrl-C: ``so101 <command>: interrupted``, exit 130;
* anything else is a bug: its traceback is shown.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import logging
import sys
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from so101.errors import CommandLineError, So101Error, as_flag

T = TypeVar("T")

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


USER_ERRORS: tuple[type[BaseException], ...] = (So101Error, FileNotFoundError, FileExistsError, NotADirectoryError)
"""Errors that the command layer reports as one line (exit 2) instead of a traceback."""


# ------------------------------------------------------------------------------------------- option names


def _unwrap_optional(annotation: Any) -> Any:
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation


def option_types(config_class: type) -> dict[str, Any]:
    """Every option of a config dataclass by its dotted name (nested dataclasses flattened), with its type."""
    options: dict[str, Any] = {}
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        if not field.init:
            continue
        annotation = _unwrap_optional(hints.get(field.name, field.type))
        options[field.name] = annotation
        if dataclasses.is_dataclass(annotation) and not hasattr(annotation, "get_choice_name"):
            for name, sub in option_types(annotation).items():
                options[f"{field.name}.{name}"] = sub
    return options


def normalize_args(
    config_class: type, argv: Sequence[str], positional: str | None = None
) -> list[str]:
    """Rewrite ``argv`` into what draccus parses: dashes to underscores, bare boolean flags to ``=true``, the one
    positional argument (when the command takes one) to ``--<positional>=<value>``; unknown options are refused.

    Raises:
        CommandLineError: an option the command does not have (the closest ones are named), or a stray argument.
    """
    options = option_types(config_class)
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("-h", "--help"):
            out.append(arg)
            continue
        if not arg.startswith("--"):
            if positional is not None and not any(a.startswith(f"--{positional}=") for a in out):
                out.append(f"--{positional}={arg}")
                continue
            raise CommandLineError(f"unexpected argument {arg!r}; options are written --name value (see --help)")
        name, eq, value = arg[2:].partition("=")
        name = name.replace("-", "_")
        if name != "config_path" and not _known(name, options):
            close = difflib.get_close_matches(name, list(options), n=2)
            # A flag that moved into an option block (--fps -> --scene.fps) matches on its last component.
            close += [o for o in options if o.rpartition(".")[2] == name.rpartition(".")[2] and o not in close]
            hint = f"; did you mean {' or '.join('--' + c for c in close)}?" if close else "; see --help"
            raise CommandLineError(f"unknown option --{name}{hint}")
        if not eq:
            if i < len(args) and not args[i].startswith("--"):
                value = args[i]
                i += 1
            elif options.get(name) is bool:
                value = "true"
            else:
                raise CommandLineError(f"--{name} needs a value: --{name} VALUE (see --help)")
        out.append(f"--{name}={value}")
    return out


def _known(name: str, options: dict[str, Any]) -> bool:
    if name in options:
        return True
    # Options inside a field that draccus decodes as a whole (a choice type, a dict): let draccus judge them.
    prefix = name.rpartition(".")[0]
    while prefix:
        kind = options.get(prefix)
        if prefix in options and (not dataclasses.is_dataclass(kind) or hasattr(kind, "get_choice_name")):
            return True
        prefix = prefix.rpartition(".")[0]
    return False


# ------------------------------------------------------------------------------------------- parsing


def _root_cause(error: BaseException) -> BaseException:
    """The innermost error: draccus wraps a config's own ValueError (whose message names the fix) in its own."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def parse(config_class: type[T], argv: Sequence[str], command: str, positional: str | None = None) -> T:
    """Parse ``argv`` into ``config_class``.

    Raises:
        CommandLineError: an unknown option or a value of the wrong type.
        So101Error: a value the config's own checks refuse (a ``ConfigError``, raised as it is).
        SystemExit: ``--help`` was given, wherever among the options (status 0, after printing the help).
    """
    import draccus
    from draccus.utils import DraccusException

    from so101.lerobot_compat import patch_draccus

    patch_draccus()
    if any(arg in ("-h", "--help") for arg in argv):
        # With --help, draccus hands every value to argparse converted by the option's annotation, which is no
        # converter for most (``Path | None``, ``Literal``): the help depends on no value, so it is asked alone.
        args = ["--help"]
    else:
        args = normalize_args(config_class, argv, positional)
    try:
        return draccus.parse(config_class=config_class, args=args, prog=f"so101 {command}", exit_on_error=False)
    except (DraccusException, ValueError, TypeError, argparse.ArgumentError) as error:
        cause = _root_cause(error)
        if isinstance(cause, So101Error):
            raise cause from error
        message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise CommandLineError(message) from error


def run_command(
    command: str,
    config_class: type[T],
    body: Callable[[T], int | None],
    argv: Sequence[str] | None = None,
    positional: str | None = None,
) -> int:
    """Parse ``argv`` into ``config_class`` and run ``body`` with it; returns the exit status.

    Args:
        command: the subcommand as typed, e.g. ``"record"`` or ``"dataset info"``, for messages.
        config_class: the command's options dataclass.
        body: the command; returns its exit status (None means 0).
        argv: the arguments after the subcommand; default ``sys.argv[1:]``.
        positional: the option that a bare argument fills (``so101 eval PATH`` fills ``path``).
    """
    from so101.lerobot_compat import quiet_torchvision_video_warning

    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_torchvision_video_warning()
    try:
        with console_logging():
            cfg = parse(config_class, argv, command, positional)
            return int(body(cfg) or 0)
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0) if isinstance(exit_.code, int) or exit_.code is None else EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\nso101 {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except USER_ERRORS as error:
        print(f"so101 {command}: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE


class _ConsoleHandler(logging.Handler):
    """The workbench's log records as plain lines: information on stdout, warnings and errors on stderr, written to
    the streams of the moment (a redirected or captured ``sys.stdout`` receives them)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def console_logging(level: int = logging.INFO) -> Iterator[None]:
    """While a command runs, show the libraries' log records (the ``so101`` loggers) as the command's own lines.

    Libraries only log; the command layer decides that the user sees information and warnings, without logging's
    prefixes, and that nothing is shown twice if some other library configured the root logger.
    """
    logger = logging.getLogger("so101")
    handler = _ConsoleHandler(level)
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]


def _one_line(error: BaseException) -> str:
    if isinstance(error, So101Error):
        return " ".join(error.one_line(as_flag).split())
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.strerror}: {error.filename}"
    text = " ".join(str(error).split())
    return text or type(error).__name__
