"""The source factory behind ``--teleop``."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from so101.teleop.scripted_expert import ExpertConfig, ScriptedExpert
from so101.teleop.sources import SOURCES, make_source


@dataclass
class Options:
    expert: ExpertConfig = field(default_factory=lambda: ExpertConfig(hover_height=0.05))


def test_builds_a_source_with_its_options() -> None:
    source = make_source("scripted", Options())
    assert isinstance(source, ScriptedExpert) and source.config.hover_height == 0.05
    assert {"scripted", "keyboard"} <= set(SOURCES)


def test_names_the_choices_and_missing_options() -> None:
    with pytest.raises(ValueError, match="choose --teleop from scripted"):
        make_source("joystick", Options())
    with pytest.raises(ValueError, match="no --keyboard"):
        make_source("keyboard", Options())
