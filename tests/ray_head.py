"""A real Ray cluster for tests: one head node on this machine (``ray start --head --block``, 2 CPUs, no dashboard),
started by a test module and stopped by signalling the process that started it (``--block`` stops the node's
processes when it ends). Tests that need one are skipped, saying why, where Ray cannot be imported."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def ray_or_skip() -> None:
    """Skip the calling test where Ray is not installed."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[dev]' installs the ray extra)")


ATTEMPTS = 3
"""``ray start`` gives its raylet 30 s to register (fixed in Ray): on a machine busy with other jobs it may not."""


@contextmanager
def ray_head(python: str | Path = sys.executable, cpus: int = 2) -> Iterator[str]:
    """A head node started by ``python`` (whose packages its workers import), bound to this machine (Ray gives it the
    machine's own address, never a public one: 127.0.0.1 is resolved to it), without token authentication (Ray
    sends no token to an address given explicitly); yields ``HOST:PORT`` to join it."""
    command = [str(python), "-m", "ray.scripts.scripts", "start", "--head", "--node-ip-address", "127.0.0.1",
               "--port", "0", f"--num-cpus={cpus}", "--include-dashboard=false", "--disable-usage-stats", "--block"]
    for attempt in range(1, ATTEMPTS + 1):
        head = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONPATH": "", "RAY_AUTH_MODE": "disabled"}, cwd="/")  # fmt: skip
        address, seen = None, []
        assert head.stdout is not None
        for line in head.stdout:
            seen.append(line)
            found = re.search(r"--address='([^']+)'", line)
            address = found.group(1) if found else address
            if line.rstrip().endswith("--block"):
                break
        if address is not None:
            break
        head.wait(timeout=120)
        if attempt == ATTEMPTS:
            raise RuntimeError(f"ray start --head did not start in {ATTEMPTS} attempts:\n" + "".join(seen[-20:]))
    try:
        yield address
    finally:
        head.send_signal(signal.SIGTERM)
        head.wait(timeout=120)
