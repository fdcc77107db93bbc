"""Tests of so101.errors: one tree, structured fields, and the spelling of options left to whoever reports them."""

from __future__ import annotations

from pathlib import Path

import pytest

from so101.errors import (
    CheckpointError,
    CommandLineError,
    ConfigError,
    DatasetError,
    DependencyError,
    DeviceError,
    DiskFullError,
    EvalWorkerError,
    PreflightError,
    ResourceError,
    So101Error,
)


def test_every_error_is_a_workbench_error() -> None:
    errors = [
        ConfigError("fps", 0, "must be positive"), CommandLineError("unknown option --x"),
        DatasetError("broken", path="/d"), CheckpointError("bad", path="/c"), DeviceError("busy", "/dev/x"),
        DiskFullError("full", "/d", need=10, free=1), EvalWorkerError("died", seed=3, cause="SIGKILL"),
        PreflightError("refused", ["task"]), DependencyError("mink", "not installed", "1.3.0", "it"),
    ]  # fmt: skip
    assert all(isinstance(error, So101Error) for error in errors)
    assert issubclass(DiskFullError, ResourceError)
    # A ConfigError is also what draccus and LeRobot expect of a refused value.
    assert issubclass(ConfigError, ValueError) and not issubclass(DatasetError, ValueError)


def test_a_config_error_keeps_option_value_and_rule_and_is_spelled_by_the_reporter() -> None:
    error = ConfigError("cameras.width", 8, "must be at least 16")
    assert (error.option, error.value, error.rule) == ("cameras.width", 8, "must be at least 16")
    assert str(error) == "--cameras.width must be at least 16, got 8"
    assert error.one_line(lambda option: option.upper()) == "CAMERAS.WIDTH must be at least 16, got 8"
    assert str(ConfigError("scene.brick", "3x3", "must be 2x4 or 2x2")).endswith("got '3x3'")


def test_a_plugin_renames_the_options_not_the_text() -> None:
    error = ConfigError(("cameras.width", "cameras.height"), (8, 8), "must be at least 16", shown="8x8")
    plugin = error.renamed({"cameras.width": "robot.camera_width", "cameras.height": "robot.camera_height"}.get)
    assert plugin.options == ("robot.camera_width", "robot.camera_height") and plugin.value == (8, 8)
    assert str(plugin) == "--robot.camera_width and --robot.camera_height must be at least 16, got 8x8"


def test_structured_fields_of_the_other_errors() -> None:
    full = DiskFullError("the disk is full", "/data", need=2_000, free=10)
    assert (full.path, full.need, full.free) == (Path("/data"), 2_000, 10)
    died = EvalWorkerError("stopped", seed=7, cause="killed by SIGKILL")
    assert (died.seed, died.cause) == (7, "killed by SIGKILL")
    assert PreflightError("preflight refused", ["task", "units"]).checks == ["task", "units"]
    assert DatasetError("x", path="/d").path == Path("/d") and DatasetError("x").path is None


@pytest.mark.parametrize(
    ("installed", "expected"),
    [("0.5.0", "lerobot 0.5.0 is installed, but recording relies on lerobot 0.4.4's internals"),
     ("not installed", "recording needs lerobot, which is not installed: install it with  pip install lerobot==0.4.4")],
)  # fmt: skip
def test_a_dependency_error_names_the_fix(installed: str, expected: str) -> None:
    error = DependencyError("lerobot", installed, "0.4.4", "recording", alternative="use another command")
    assert str(error).startswith(expected) and str(error).endswith("or use another command")
    assert "pip install lerobot==0.4.4" in str(error)
