"""The OpenXR runtime's environment, prepared before the runtime loads into the process.

Two things are decided here, from environment variables and the runtime's manifest only (nothing is loaded):

* **Monado without a display.** Monado run in-process (no ``monado-service``) opens its own compositor window; with
  no X or Wayland display that compositor crashes the whole process (a segmentation fault, exit status 139, no
  message). Its null compositor (``XRT_COMPOSITOR_NULL=1``) needs no display. ``check_headless_monado`` refuses,
  in one line naming that fix, before the session is opened.
* **Monado's start-up report.** Monado logs about a hundred INFO lines (devices, Vulkan formats, the null compositor's
  banner) through one log level per subsystem. Unless the user set ``XRT_LOG``, ``quiet_runtime_logs`` sets each
  subsystem's level to ``warn`` (the user's own per-subsystem settings stay): warnings and errors still show.

Monado parses a log level as a prefix of ``trace``, ``debug``, ``info``, ``warn``, ``error`` (so ``warning`` is not
one) and a boolean as true unless it is one of ``0``, ``n``, ``no``, ``f``, ``false``, ``off`` (either case).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from so101.errors import DeviceError
from so101.sim.viewer import has_display

QUIET_LEVEL = "warn"
"""The log level set for Monado's subsystems unless the user set ``XRT_LOG``."""
MONADO_LOG_VARIABLES = (
    "XRT_LOG",
    "PROBER_LOG",
    "XRT_COMPOSITOR_LOG",
    "MULTI_LOG",
    "SIMULATED_LOG",
    "U_PACING_APP_LOG",
    "EGL_LOG",
    "EGL_SWAPCHAIN_LOG",
    "OXR_VULKAN_LOG",
    "XRT_JSON_LOG",
)
"""Monado 25's log-level variables (the global one first): the subsystems that log at start-up and per frame."""
DIRECT_MODE_VARIABLES = ("XRT_COMPOSITOR_FORCE_VK_DISPLAY", "XRT_COMPOSITOR_FORCE_NVIDIA")
"""Monado compositor targets that drive a headset without a desktop display (direct mode)."""
IPC_SOCKET = "monado_comp_ipc"
"""The socket a running ``monado-service`` listens on (in ``$XDG_RUNTIME_DIR``, else ``/tmp``)."""
_FALSE = {"0", "n", "no", "f", "false", "off"}


def monado_true(value: str | None) -> bool:
    """A Monado boolean option's value: unset or empty is false, and so is any of ``_FALSE`` (either case)."""
    return bool(value) and str(value).lower() not in _FALSE


def runtime_manifest() -> Path | None:
    """The manifest of the runtime the OpenXR loader will load: ``XR_RUNTIME_JSON``, else (Linux) the first
    ``openxr/1/active_runtime.json`` in ``$XDG_CONFIG_HOME`` (``~/.config``), ``$XDG_CONFIG_DIRS`` (``/etc/xdg``)
    and ``/etc``; None when there is none."""
    environ = os.environ
    chosen = environ.get("XR_RUNTIME_JSON")
    if chosen:
        return Path(chosen).expanduser()
    if not sys.platform.startswith("linux"):
        return None
    home = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")).expanduser() / ".config")
    folders = [home, *(environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":"), "/etc"]
    for folder in folders:
        candidate = Path(folder) / "openxr" / "1" / "active_runtime.json"
        if folder and candidate.is_file():
            return candidate
    return None


def is_monado(manifest: Path) -> bool:
    """Whether ``manifest`` names Monado (its runtime name or library); False when it cannot be read."""
    try:
        runtime = json.loads(manifest.read_text()).get("runtime", {})
    except (OSError, ValueError, AttributeError):
        return False
    if not isinstance(runtime, dict):
        return False
    name = str(runtime.get("name", ""))
    library = Path(str(runtime.get("library_path", ""))).name
    return "monado" in name.lower() or "openxr_monado" in library.lower()


def monado_service_running() -> bool:
    """Whether a ``monado-service`` socket exists: the client then talks to the service, whose compositor runs there."""
    folders = [os.environ.get("XDG_RUNTIME_DIR") or "", "/tmp"]
    return any(folder and (Path(folder) / IPC_SOCKET).exists() for folder in folders)


def check_headless_monado() -> None:
    """Refuse to load in-process Monado without a display unless its null compositor (or a direct-mode target) was
    asked for: its compositor would crash the process.

    Raises:
        DeviceError: one line naming the fix (``export XRT_COMPOSITOR_NULL=1``).
    """
    if has_display() or monado_true(os.environ.get("XRT_COMPOSITOR_NULL")):
        return
    if any(monado_true(os.environ.get(name)) for name in DIRECT_MODE_VARIABLES):
        return
    manifest = runtime_manifest()
    if manifest is None or not is_monado(manifest) or monado_service_running():
        return
    raise DeviceError(
        f"the OpenXR runtime is Monado ({manifest}) and there is no display (DISPLAY and WAYLAND_DISPLAY are unset): "
        "its compositor would crash the process. Run `export XRT_COMPOSITOR_NULL=1` (Monado's null compositor, "
        "for simulated devices) or run from the desktop session"
    )


def quiet_runtime_logs() -> None:
    """Set Monado's log levels to ``QUIET_LEVEL`` where unset, unless the user chose a level with ``XRT_LOG``
    (``os.environ``: the runtime reads the process's environment when it loads)."""
    if "XRT_LOG" in os.environ:
        return
    for name in MONADO_LOG_VARIABLES:
        os.environ.setdefault(name, QUIET_LEVEL)


def prepare_runtime_environment() -> None:
    """Check and set this process's environment before the runtime loads (``so101.teleop.vr.session.XrSession``).

    Raises:
        DeviceError: in-process Monado without a display or a null compositor (see ``check_headless_monado``).
    """
    # The OpenXR loader prints its own errors to stderr; ours name the fix, in one line.
    os.environ.setdefault("XR_LOADER_DEBUG", "none")
    check_headless_monado()
    quiet_runtime_logs()
