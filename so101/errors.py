"""The workbench's errors: one tree, named for what happened, each carrying the facts as fields.

::

    So101Error                      anything the user can fix; the message names the problem and the fix
    ├── ConfigError                 an option's value breaks a rule           (option, value, rule)
    ├── CommandLineError            an unknown option, a value of the wrong type
    ├── DatasetError                a dataset cannot be read, written or used (path, problem, fix)
    ├── CheckpointError             a checkpoint cannot be loaded or used     (path, problem, fix)
    ├── DeviceError                 a port, an arm, a display, a headset      (port, problem, fix)
    ├── ResourceError               the machine lacks something
    │   └── DiskFullError           not enough free space                     (path, need, free)
    ├── EvalWorkerError             evaluation workers died                   (seed, cause)
    ├── PreflightError              deployment refused before any motion      (checks)
    ├── ClusterError                a Ray cluster cannot be reached or used   (address)
    └── DependencyError             a package is missing or not the pinned one (package, installed, supported)

Libraries raise them and never print them; only the command layer (``so101.command``) turns one into a single
line and an exit status, and it alone spells options as flags (``--dataset.root``). ``ConfigError`` keeps the
option as a dotted field path (``cameras.width``) so that the LeRobot plugins can name their own fields
(``--robot.camera_width``) from the structured error, without rewording its text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def as_flag(option: str) -> str:
    """The command-line spelling of a dotted option (``dataset.root`` -> ``--dataset.root``)."""
    return f"--{option}"


class So101Error(Exception):
    """Root of the workbench's errors: something the user can fix; ``str()`` is one line naming the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def one_line(self, spell: Callable[[str], str] = as_flag) -> str:
        """The error as one line, options spelled by ``spell`` (the command layer's or a plugin's flags)."""
        return self.message


class ConfigError(So101Error, ValueError):
    """An option's value breaks a rule: ``option`` (dotted, ``cameras.width``; several for a joint rule), the
    ``value`` given and the ``rule`` it breaks (``must be at least 16``). Also a ``ValueError``, so that
    draccus reports it as a bad value like its own."""

    def __init__(self, option: str | Sequence[str], value: Any, rule: str, shown: str | None = None) -> None:
        self.options: tuple[str, ...] = (option,) if isinstance(option, str) else tuple(option)
        self.value = value
        self.rule = rule
        self.shown = shown
        """How the value is written in the message (``8x8`` for a width and height), else its ``repr`` for text
        and ``str`` otherwise."""
        super().__init__(self.one_line())

    @property
    def option(self) -> str:
        """The (first) option the rule is about."""
        return self.options[0]

    def one_line(self, spell: Callable[[str], str] = as_flag) -> str:
        shown = self.shown
        if shown is None:
            shown = repr(self.value) if isinstance(self.value, str) else str(self.value)
        return f"{' and '.join(spell(option) for option in self.options)} {self.rule}, got {shown}"

    def renamed(self, rename: Callable[[str], str]) -> ConfigError:
        """The same error about the options ``rename`` maps to (a plugin's own fields)."""
        return ConfigError(tuple(rename(option) for option in self.options), self.value, self.rule, self.shown)


class CommandLineError(So101Error):
    """The command line itself cannot be read: an unknown option, a value of the wrong type, a missing argument."""


class DatasetError(So101Error):
    """A dataset that cannot be read, written or used as asked: ``path`` (when one is known) and the message."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None


class CheckpointError(So101Error):
    """A checkpoint that cannot be loaded, or does not fit the sim or the arm: ``path`` when known."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None


class DeviceError(So101Error):
    """A device that is missing, busy or misbehaving (a serial port, an arm, a display, a VR runtime): ``port`` is
    the port or device path when there is one."""

    def __init__(self, message: str, port: str | None = None) -> None:
        super().__init__(message)
        self.port = port


class ResourceError(So101Error):
    """The machine lacks what the job needs (disk space, memory)."""


class DiskFullError(ResourceError):
    """Not enough free space at ``path``: ``need`` and ``free`` in bytes (``need`` None when the write failed
    with ENOSPC rather than a check before it)."""

    def __init__(self, message: str, path: Path | str, need: int | None = None, free: int | None = None) -> None:
        super().__init__(message)
        self.path, self.need, self.free = Path(path), need, free


class EvalWorkerError(So101Error):
    """Evaluation workers died (killed, out of memory): the ``seed`` of the episode lost, when known, and the
    ``cause`` as the workers reported it."""

    def __init__(self, message: str, seed: int | None = None, cause: str | None = None) -> None:
        super().__init__(message)
        self.seed, self.cause = seed, cause


class PreflightError(So101Error):
    """Deployment refused before any motion: ``checks`` are the failed checks' messages, in order."""

    def __init__(self, message: str, checks: Sequence[str]) -> None:
        super().__init__(message)
        self.checks = list(checks)


class ClusterError(So101Error):
    """A Ray cluster that cannot be reached, or whose nodes cannot run the workbench: ``address`` as given
    (``--ray.address``)."""

    def __init__(self, message: str, address: str | None = None) -> None:
        super().__init__(message)
        self.address = address


class DependencyError(So101Error):
    """An installed ``package`` is at ``installed``, not the ``supported`` version whose internals are used."""

    def __init__(
        self, package: str, installed: str, supported: str, needed_for: str, alternative: str | None = None
    ) -> None:
        self.package, self.installed, self.supported, self.needed_for = package, installed, supported, needed_for
        fix = f"install it with  pip install {package}=={supported}  (or make setup)"
        if alternative:
            fix += f", or {alternative}"
        if installed == "not installed":
            message = f"{needed_for} needs {package}, which is not installed: {fix}"
        else:
            message = (
                f"{package} {installed} is installed, but {needed_for} relies on {package} {supported}'s internals "
                f"(so101/lerobot_compat.py): {fix.replace('install it', 'install the pinned version')}"
            )
        super().__init__(message)
