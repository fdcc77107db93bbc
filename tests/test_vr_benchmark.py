"""``so101 bench vr`` against Monado: every figure and the machine line are printed (teleop/vr/benchmark.py)."""

from __future__ import annotations

import re

import pytest
from monado import monado  # noqa: F401  (fixture)

from so101.teleop.vr.benchmark import main


def test_bench_vr_prints_its_figures(monado: object, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    argv = ["--duration_s", "1.5", "--sequences", "3", "--vr.graphics", "egl", "--vr.mirror", "false",
            "--vr.render_profile", "fast"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "320x240 per eye, fast profile" in out
    assert re.search(r"stereo frame: [\d.]+ ms CPU median", out)
    assert re.search(r"frame rate: [\d.]+ frames/s rendered of 20.0 Hz display", out)
    assert re.search(r"controller sample -> joint targets: median [\d.]+ ms, p99 [\d.]+ ms", out)
    jump = re.search(r"largest joint jump over 3 random clutch sequences \(360 steps\): ([\d.]+) deg \(bound 6.0", out)
    assert jump is not None and float(jump.group(1)) <= 6.0 + 1e-6
    assert "machine: " in out
