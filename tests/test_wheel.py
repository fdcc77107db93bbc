"""The built wheel, installed without ``-e`` into a fresh virtual environment, works from any directory.

The wheel is built from a copy of the sources (no network, no build isolation: setuptools of this environment) so
the repository stays clean. The fresh environment takes its dependencies from this one through a ``.pth`` path
line: such a line puts that site-packages on ``sys.path`` without running its ``.pth`` files, so this environment's
editable finder (which maps ``so101`` to the repository) stays out and every ``so101`` import resolves to the
wheel's copy, as it would for a user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")

REPO_ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
PACKAGE_DIRS: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]
OLD_TOP_LEVEL = ("sim", "teleop", "kinematics", "policies", "recording", "training", "inference")


def _clean_environment() -> dict[str, str]:
    """This process's environment without anything that would put the repository on ``sys.path``."""
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    environment.update(HF_HUB_OFFLINE="1", WANDB_MODE="disabled", PYTHONNOUSERSITE="1")
    return environment


def _run(words: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(words, cwd=cwd, env=_clean_environment(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{words} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding only the wheel; returns its folder."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in sorted(set(PACKAGE_DIRS.values())):
        shutil.copytree(REPO_ROOT / folder, source / folder, ignore=ignore)
    wheels = work / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
          "--wheel-dir", str(wheels), str(source)], cwd=work)  # fmt: skip
    (wheel,) = wheels.glob("so101_workbench-*.whl")

    environment = work / "venv"
    venv.EnvBuilder(with_pip=False).create(environment)
    python = environment / "bin" / "python"
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        cwd=work).stdout.strip())  # fmt: skip
    (purelib / "so101_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet",
          str(wheel)], cwd=work)  # fmt: skip
    return environment


def test_the_wheel_holds_every_subpackage_and_the_models(installed: Path, tmp_path: Path) -> None:
    python = installed / "bin" / "python"
    shown = _run([sys.executable, "-m", "pip", "--python", str(python), "show", "-f", "so101-workbench"],
                 cwd=tmp_path).stdout  # fmt: skip
    files = {line.strip() for line in shown.splitlines() if line.startswith("  ")}
    for model in ("so101.xml", "scene.xml", "bowl.xml", "duplo_2x2.xml", "duplo_2x4.xml"):
        assert f"so101/assets/{model}" in files, shown
    for package in ("so101/teleop/feetech/__init__.py", "so101/teleop/vr/__init__.py", "so101/sim/env.py"):
        assert package in files, shown
    # Nothing generic lands in site-packages: every file of the wheel is under so101/ or its metadata.
    assert all(path.startswith(("so101/", "so101_workbench-", "../../../bin/")) for path in files), files

    probe = ("import json, so101.sim, so101.sim.paths as paths, importlib.util as u; "
             "print(json.dumps({'sim': so101.sim.__file__, 'model': str(paths.ROBOT_XML), "
             f"'old': [n for n in {OLD_TOP_LEVEL!r} if u.find_spec(n)]}}))")  # fmt: skip
    found = json.loads(_run([str(python), "-c", probe], cwd=tmp_path).stdout)
    assert Path(found["sim"]).is_relative_to(installed), found
    assert Path(found["model"]).is_relative_to(installed) and Path(found["model"]).is_file(), found
    assert found["old"] == [], f"old top-level packages importable from a plain directory: {found['old']}"


def test_so101_runs_from_another_directory_and_records_an_episode(installed: Path, tmp_path: Path) -> None:
    so101 = installed / "bin" / "so101"
    usage = _run([str(so101), "--help"], cwd=tmp_path).stdout
    assert "record" in usage and "train" in usage, usage

    root = tmp_path / "dataset"
    _run([str(so101), "record", "--episodes", "1", "--dataset.repo_id", "test/wheel", "--dataset.root", str(root),
          "--keep_failed", "true", "--episode_time_s", str(20 / 30), "--cameras.width", "64",
          "--cameras.height", "48"], cwd=tmp_path)  # fmt: skip
    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 1 and info["total_frames"] == 20, info
    assert info["features"]["observation.images.overhead_cam"]["shape"][:2] == [48, 64], info["features"]


def test_no_old_top_level_imports_remain() -> None:
    """``import sim`` / ``from training.x import`` would only work from the repository's own folder."""
    pattern = rf"^\s*(import|from)\s+({'|'.join(OLD_TOP_LEVEL)})(\.|\s|$)"
    found = subprocess.run(["git", "grep", "-nE", pattern, "--", "*.py"], cwd=REPO_ROOT, capture_output=True,
                           text=True)  # fmt: skip
    if found.returncode == 128 or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    assert found.stdout == "", found.stdout
