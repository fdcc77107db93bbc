"""The runtime's environment before it loads: Monado without a display is refused in one line naming the fix,
never a crash; Monado's start-up report is quieted unless the user chose a log level (teleop/vr/runtime_env.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from monado import ENVIRONMENT, monado  # noqa: F401  (fixture)

from so101.errors import DeviceError
from so101.teleop.vr.runtime_env import MONADO_LOG_VARIABLES, check_headless_monado, quiet_runtime_logs

HEADLESS = ("DISPLAY", "WAYLAND_DISPLAY", "XRT_COMPOSITOR_NULL", *ENVIRONMENT, "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME",
            "XRT_COMPOSITOR_FORCE_VK_DISPLAY")  # fmt: skip


def manifest(folder: Path, name: str, library: str) -> Path:
    path = folder / f"{name.lower()}.json"
    path.write_text(json.dumps({"file_format_version": "1.0.0", "runtime": {"name": name, "library_path": library}}))
    return path


@pytest.fixture
def headless(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No display, no Monado variables, an empty configuration folder (no active runtime)."""
    for name in HEADLESS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "etc"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    return monkeypatch


def test_monado_without_a_display_or_null_compositor_is_refused(headless: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monado_json = manifest(tmp_path, "Monado", "/opt/monado/lib/libopenxr_monado.so")
    headless.setenv("XR_RUNTIME_JSON", str(monado_json))
    with pytest.raises(DeviceError, match="export XRT_COMPOSITOR_NULL=1") as refused:
        check_headless_monado()
    assert "\n" not in str(refused.value)
    for value in ("0", "off", "FALSE", ""):  # Monado reads these as false
        headless.setenv("XRT_COMPOSITOR_NULL", value)
        with pytest.raises(DeviceError):
            check_headless_monado()
    headless.setenv("XRT_COMPOSITOR_NULL", "1")
    check_headless_monado()  # the null compositor needs no display
    headless.delenv("XRT_COMPOSITOR_NULL")
    headless.setenv("XRT_COMPOSITOR_FORCE_VK_DISPLAY", "1")
    check_headless_monado()  # direct mode drives the headset without a desktop
    headless.delenv("XRT_COMPOSITOR_FORCE_VK_DISPLAY")
    headless.setenv("DISPLAY", ":0")
    check_headless_monado()


def test_other_runtimes_and_a_running_monado_service_are_let_through(
    headless: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    headless.setenv("XR_RUNTIME_JSON", str(manifest(tmp_path, "WiVRn", "/usr/lib/libopenxr_wivrn.so")))
    check_headless_monado()
    headless.setenv("XR_RUNTIME_JSON", str(tmp_path / "missing.json"))
    check_headless_monado()  # the session's own message names a missing manifest
    headless.setenv("XR_RUNTIME_JSON", str(manifest(tmp_path, "Monado", "libopenxr_monado.so")))
    service = socket.socket(socket.AF_UNIX)
    try:
        service.bind(str(tmp_path / "run" / "monado_comp_ipc"))  # monado-service is up: its compositor, not ours
        check_headless_monado()
    finally:
        service.close()


def test_the_active_runtime_counts_when_xr_runtime_json_is_unset(headless: pytest.MonkeyPatch, tmp_path: Path) -> None:
    check_headless_monado()  # no runtime at all: the session says so
    active = tmp_path / "etc" / "openxr" / "1" / "active_runtime.json"
    active.parent.mkdir(parents=True)
    active.write_text(manifest(tmp_path, "Monado", "libopenxr_monado.so").read_text())
    with pytest.raises(DeviceError, match=str(active)):
        check_headless_monado()


def test_monado_logs_are_quieted_unless_the_user_chose_a_level(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in MONADO_LOG_VARIABLES:
        monkeypatch.setenv(name, "")  # recorded, so that the test leaves the environment as it found it
        monkeypatch.delenv(name)
    monkeypatch.setenv("PROBER_LOG", "debug")
    quiet_runtime_logs()
    assert os.environ["XRT_LOG"] == os.environ["XRT_COMPOSITOR_LOG"] == "warn"
    assert os.environ["PROBER_LOG"] == "debug"  # the user's own choice stays
    for name in MONADO_LOG_VARIABLES:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XRT_LOG", "info")
    quiet_runtime_logs()
    assert "XRT_COMPOSITOR_LOG" not in os.environ  # the user asked for Monado's report: everything as Monado sets it


def test_vr_check_on_headless_monado_without_the_null_compositor_exits_2_not_139(
    monado: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Run as a process of its own: without the refusal, Monado's compositor would crash it (exit status 139)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "XRT_COMPOSITOR_NULL")}
    result = subprocess.run([sys.executable, "-m", "so101", "vr", "--check"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()  # one line, and nothing from Monado: it was never loaded
    assert line.startswith("so101 vr: the OpenXR runtime is Monado") and "export XRT_COMPOSITOR_NULL=1" in line
