"""Tests of so101.ray_cluster: what ``--backend ray`` says, in one line and exit 2, when the cluster cannot be used:
an address nobody answers at, Ray not installed, a cluster whose nodes lack the workbench (a real head node started
by a Python that has Ray but not the workbench)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ray_head import ray_head, ray_or_skip

from so101.errors import ConfigError
from so101.inference.evaluate_cmd import EvalCommandConfig
from so101.ray_cluster import RayOptions
from so101.recording.record import RecordConfig
from so101.recording.record import main as record_main

RECORD = ["--teleop", "scripted", "--episodes", "2", "--backend", "ray", "--cameras.width", "64",
          "--cameras.height", "48"]  # fmt: skip


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


def test_an_address_nobody_answers_at_is_one_line_naming_ray_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    assert record_main([*RECORD, "--ray.address", "127.0.0.1:1", "--dataset.root", str(root)]) == 2
    line = _one_line(capsys)
    assert line.startswith("so101 record: --ray.address 127.0.0.1:1: no Ray head node answers there"), line
    assert "ray start --head" in line and "--ray.address local" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "nothing is left beside the dataset"


def test_options_that_cannot_run_on_ray_are_refused_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match=r"--ray\.address must be local, auto or HOST:PORT"):
        RayOptions(address="my-cluster")
    with pytest.raises(ConfigError, match=r"--ray\.cpus_per_worker must be at least 1"):
        RayOptions(cpus_per_worker=0)
    with pytest.raises(ConfigError, match=r"--workers must be at least 1 with --backend ray, got 0"):
        EvalCommandConfig(path=Path("ckpt"), backend="ray", workers=0)
    with pytest.raises(ConfigError, match=r"--render and --backend cannot be combined"):
        EvalCommandConfig(path=Path("ckpt"), backend="ray", render=True)
    with pytest.raises(ConfigError, match=r"--teleop must be scripted with --backend ray: .*, got 'keyboard'"):
        RecordConfig(backend="ray", teleop="keyboard")
    with pytest.raises(ConfigError, match=r"--resume cannot be used with --backend ray"):
        RecordConfig(backend="ray", resume=True)


def test_ray_not_installed_is_one_line_naming_the_pinned_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what Python does for a package that is not installed
    assert record_main([*RECORD, "--dataset.root", str(tmp_path / "data")]) == 2
    line = _one_line(capsys)
    assert "recording with --backend ray needs ray, which is not installed" in line, line
    assert "pip install ray==2.60.0" in line and "--backend local" in line


def test_a_cluster_without_the_workbench_is_one_line_saying_where_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ray_or_skip()
    import ray

    # A Python with Ray and every other package of this environment, but not the workbench (site-packages added
    # by a .pth line: the workbench's editable-install hook there is not run).
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    python = bare / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"], check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    (Path(site) / "with_ray.pth").write_text(str(Path(ray.__file__).parents[1]) + "\n")
    probe = subprocess.run([str(python), "-c", "import ray, so101.recording.record"], cwd="/", capture_output=True)
    if probe.returncode == 0:
        pytest.skip("the workbench is installed next to Ray (not editable): no Python without it can be made here")
    with ray_head(python) as address:
        code = record_main([*RECORD, "--ray.address", address, "--dataset.root", str(tmp_path / "data")])
    line = _one_line(capsys)
    assert code == 2, line
    assert f"the Ray cluster at {address} cannot run the workbench on node" in line, line
    assert "No module named 'so101" in line and "pip install -e '.[ray]'" in line
