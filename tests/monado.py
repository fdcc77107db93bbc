"""The Monado runtime for the VR tests: its simulated headset and controllers behind the null compositor.

``make test`` builds it first (``tests/vr_runtime.sh``, cached in ~/.cache/so101/monado); the ``monado`` fixture
points OpenXR at it and skips, saying why, only where it could not be built.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MONADO_VERSION = "25.0.0"
MANIFEST = (
    Path(os.environ.get("SO101_MONADO_CACHE", "~/.cache/so101/monado")).expanduser()
    / MONADO_VERSION
    / "openxr_monado.json"
)

ENVIRONMENT = {
    "XR_RUNTIME_JSON": str(MANIFEST),
    "XRT_COMPOSITOR_NULL": "1",
    "SIMULATED_ENABLE": "1",
    "SIMULATED_LEFT": "simple",
    "SIMULATED_RIGHT": "simple",
    "XRT_LOG": "error",
}
"""Monado with a simulated headset (20 Hz null compositor) and two simple controllers, errors logged only."""


@pytest.fixture
def monado(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The runtime's manifest, with the environment set to use it headless."""
    if not MANIFEST.is_file():
        pytest.skip(f"Monado is not built at {MANIFEST}: run `make monado` (tests/vr_runtime.sh, Debian only)")
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    return MANIFEST
