"""``tests/vr_runtime.sh``, the Monado build behind ``make monado``: a cached runtime is used as it is."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from monado import MONADO_VERSION

SCRIPT = Path(__file__).with_name("vr_runtime.sh")


def test_a_cached_runtime_is_not_built_again(tmp_path: Path) -> None:
    cache = tmp_path / MONADO_VERSION
    (cache / "lib").mkdir(parents=True)
    (cache / "lib" / "libopenxr_monado.so").write_bytes(b"")
    (cache / "openxr_monado.json").write_text("{}")
    environment = {**os.environ, "SO101_MONADO_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(["sh", str(SCRIPT)], capture_output=True, text=True, env=environment, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(cache / "openxr_monado.json") and result.stderr == ""
