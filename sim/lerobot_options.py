"""The scene and camera option blocks of ``so101.sim.options``, built from the flat fields of LeRobot's plugin configs.

The LeRobot plugins (env ``so101_pickplace``, robot ``so101_sim``) keep the field names LeRobot expects at its
boundary, and plain ``str`` fields where the workbench uses ``Literal`` types (LeRobot's draccus cannot decode them).
Their values are validated by ``SceneOptions`` and ``CameraOptions``, with the same rules as every ``so101``
command; a ``ConfigError`` is raised again about the plugin's own fields (its structured option renamed, its text
never edited).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from so101.errors import ConfigError
from so101.sim.options import CameraOptions, SceneOptions

T = TypeVar("T")


@dataclass(frozen=True)
class PluginFlags:
    """The plugin's flag for each option of ``so101.sim.options`` whose name LeRobot dictates, for error messages."""

    prefix: str
    """``env`` or ``robot``: LeRobot's prefix of the plugin's options."""
    names: Mapping[str, str]
    """Option of ``so101.sim.options`` (``cameras.names``) -> the plugin's field (``camera_names``)."""

    def field(self, option: str) -> str:
        """The plugin's option for one of ``so101.sim.options`` (``cameras.width`` -> ``env.observation_width``)."""
        return f"{self.prefix}.{self.names.get(option, option)}"

    def check(self, build: Callable[[], T]) -> T:
        """``build()``; a ``ConfigError`` it raises is raised again about the plugin's own options."""
        try:
            return build()
        except ConfigError as error:
            raise error.renamed(self.field) from error


def scene_options(brick: str, robot_xml: str | Path | None, fps: int, flags: PluginFlags) -> SceneOptions:
    """The scene of a plugin config, validated as ``--scene.*``."""
    path = Path(robot_xml).expanduser() if robot_xml is not None else None
    return flags.check(lambda: SceneOptions(brick=brick, robot_xml=path, fps=fps))  # type: ignore[arg-type]


def camera_options(
    names: list[str], width: int, height: int, render_profile: str, flags: PluginFlags
) -> CameraOptions:
    """The robot cameras of a plugin config, validated as ``--cameras.*``."""
    return flags.check(
        lambda: CameraOptions(names=list(names), width=width, height=height, render_profile=render_profile)  # type: ignore[arg-type]
    )
