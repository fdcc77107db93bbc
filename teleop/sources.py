"""The names of the action sources (``--teleop scripted``) and how to build each from its options.

A source is one small ``ActionSource`` class taking one dataclass of options. Adding a source (``leader``,
``vr``) means one entry here and one options field of that name in the commands that offer it (``so101 record``).
Modules are imported only when their source is chosen, so a missing optional package (glfw, pyopenxr) only
affects that source.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from so101.teleop.action_source import ActionSource


@dataclass(frozen=True)
class SourceEntry:
    module: str
    class_name: str
    options: str
    """Name of the options field (``--<options>.*`` flags) that configures the source."""


SOURCES: dict[str, SourceEntry] = {
    "scripted": SourceEntry("so101.teleop.scripted_expert", "ScriptedExpert", "expert"),
    "keyboard": SourceEntry("so101.teleop.keyboard", "KeyboardTeleop", "keyboard"),
    "leader": SourceEntry("so101.teleop.leader_source", "LeaderSource", "leader"),
    "vr": SourceEntry("so101.teleop.vr.source", "VRTeleop", "vr"),
}


def make_source(name: str, options_holder: object) -> ActionSource:
    """Build the source called ``name`` with the options that ``options_holder`` has for it.

    Args:
        name: a key of ``SOURCES``.
        options_holder: a command's config with one attribute per source options (``expert``, ``keyboard``...).
    """
    entry = SOURCES.get(name)
    if entry is None:
        raise ValueError(f"unknown action source {name!r}; choose --teleop from {', '.join(SOURCES)}")
    options = getattr(options_holder, entry.options, None)
    if options is None:
        raise ValueError(f"this command has no --{entry.options}.* options, so it cannot use the {name!r} source")
    cls = getattr(importlib.import_module(entry.module), entry.class_name)
    return cls(options)
