"""The packages import each other in one direction only, so no two of them form a cycle.

Layers, bottom to top (a module may import its own layer and the ones below, never one above):

    base        so101's own modules except the command table: the command layer (``so101.command``), the errors
    kinematics  units, FK, IK, the end-effector controller
    sim         the scene, simulator, rendering, the LeRobot plugins
    teleop      action sources: scripted expert, keyboard, leader arm, the Feetech bus, VR
    recording   the episode loop, datasets, replay, conversions
    policies    ACT through LeRobot, checkpoints
    inference   the policy runner, evaluation, deployment
    training    the training loop; its in-loop evaluation runs inference's evaluator
    command     ``so101.cli``, ``so101.__main__``, and the few subcommand modules of ``ON_TOP`` (each says why)

The imports are read with ``ast`` (function-level imports included, since a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from so101.cli import COMMANDS, Command

REPO_ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("base", "kinematics", "sim", "teleop", "recording", "policies", "inference", "training", "command")
FOLDERS = {"kinematics": "kinematics", "sim": "sim", "teleop": "teleop", "recording": "recording",
           "policies": "policies", "inference": "inference", "training": "training", "so101": "so101"}  # fmt: skip
COMMAND_TABLE = {"so101.cli", "so101.__main__"}


@dataclass(frozen=True)
class Module:
    name: str
    """Dotted name, e.g. ``so101.sim.scene``."""
    path: Path
    imports: tuple[tuple[str, int], ...]
    """Every ``so101`` module it imports, with the line."""


def _module_name(path: Path) -> str:
    relative = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] != "so101":
        parts.insert(0, "so101")
    return ".".join(parts)


def _imports(path: Path) -> tuple[tuple[str, int], ...]:
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from so101.sim import scene`` imports the module so101.sim.scene, not only the package.
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
    return tuple((name, line) for name, line in found if name == "so101" or name.startswith("so101."))


def _modules() -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for folder in FOLDERS.values():
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            name = _module_name(path)
            modules[name] = Module(name, path, _imports(path))
    return modules


MODULES = _modules()


def _resolve(imported: str) -> str:
    """The workbench module an imported name refers to (``so101.sim.scene.SceneConfig`` -> ``so101.sim.scene``)."""
    while imported not in MODULES and "." in imported:
        imported = imported.rsplit(".", 1)[0]
    return imported


ON_TOP = {
    "so101.kinematics.benchmark": "so101 bench ik: the IK on the model of so101.sim.paths, with the machine line",
    "so101.kinematics.convert_benchmark": "so101 bench convert: the same model and machine line",
    "so101.teleop.expert_benchmark": "so101 bench expert: the scripted expert under the recorder's episode loop",
    "so101.teleop.vr.vr_cmd": "so101 vr: practice episodes in the headset through the recorder's episode loop",
}
"""Subcommand modules that sit with the command table above every package, and why: each drives its package's
part through a higher layer, and no library module imports it (checked below)."""


def _subcommand_modules() -> set[str]:
    targets: set[str] = set()

    def walk(table: dict) -> None:
        for entry in table.values():
            if isinstance(entry, Command):
                targets.add(entry.target.partition(":")[0])
            else:
                walk(entry)

    walk(COMMANDS)
    return targets


COMMAND_MODULES = COMMAND_TABLE | set(ON_TOP)


def layer(name: str) -> str:
    """The layer of a workbench module."""
    if name in COMMAND_MODULES:
        return "command"
    parts = name.split(".")
    if len(parts) == 1 or parts[1] not in LAYERS[1:-1]:
        return "base"
    return parts[1]


def test_the_table_of_layers_sees_every_package() -> None:
    names = set(MODULES)
    for package in ("so101.kinematics", "so101.sim", "so101.teleop", "so101.teleop.feetech", "so101.teleop.vr",
                    "so101.recording", "so101.policies", "so101.inference", "so101.training", "so101.command"):
        assert package in names, package
    assert layer("so101.sim.scene") == "sim" and layer("so101.teleop.vr.view") == "teleop"
    assert layer("so101.command") == "base" and layer("so101.cli") == "command"
    assert layer("so101.recording.record") == "recording" and layer("so101.teleop.vr.vr_cmd") == "command"


def test_modules_on_top_are_subcommands_that_no_library_imports() -> None:
    assert set(ON_TOP) <= _subcommand_modules()
    importers = [
        f"{module.name} imports {imported}" for module in MODULES.values() if module.name not in COMMAND_MODULES
        for imported, _ in module.imports if _resolve(imported) in ON_TOP
    ]  # fmt: skip
    assert not importers, importers


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_down_the_layers(name: str) -> None:
    module = MODULES[name]
    own = LAYERS.index(layer(name))
    upward = [
        f"{module.path.relative_to(REPO_ROOT)}:{line} ({layer(name)}) imports {imported} ({layer(_resolve(imported))})"
        for imported, line in module.imports
        if LAYERS.index(layer(_resolve(imported))) > own
    ]
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_the_layer_check_finds_an_upward_import(tmp_path: Path) -> None:
    """The check itself: a kinematics module importing the simulator is reported."""
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from so101.sim.simulator import So101Sim\n")
    imported = _imports(source)
    assert imported == (("so101.sim.simulator.So101Sim", 2),)
    assert LAYERS.index(layer(_resolve(imported[0][0]))) > LAYERS.index("kinematics")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_400_lines(name: str) -> None:
    lines = len(MODULES[name].path.read_text().splitlines())
    assert lines <= 400, f"{MODULES[name].path.relative_to(REPO_ROOT)} has {lines} lines: split it by concept"
