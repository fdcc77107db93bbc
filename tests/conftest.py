"""Shared test set-up: headless GL, no network or online logging, and a tiny recorded dataset."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import so101.sim  # noqa: F401  (chooses MuJoCo's headless GL backend before anything imports mujoco)
from so101.sim.options import CameraOptions

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
# A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored in every child: the tests
# that press Ctrl-C in a child process would then see it ignored. Handled here, children get the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

TINY_REPO_ID = "test/so101_scripted"


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 scripted episodes cut at 40 frames, recorded by ``so101 record``: two cameras at 96x128."""
    from so101.recording.dataset_writer import DatasetConfig
    from so101.recording.record import RecordConfig, record

    root = tmp_path_factory.mktemp("datasets") / "tiny"
    config = RecordConfig(
        episodes=4,
        dataset=DatasetConfig(repo_id=TINY_REPO_ID, root=root),
        keep_failed=True,
        episode_time_s=40 / 30,
        cameras=CameraOptions(width=128, height=96),
    )
    summary = record(config)
    assert summary.total_episodes == 4 and summary.frames == 160, summary
    return root


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """``HOST:PORT`` of a real Ray head node on this machine (2 CPUs), shared by the tests of ``--backend ray`` and
    stopped after them; skipped where Ray is not installed."""
    from ray_head import ray_head, ray_or_skip

    ray_or_skip()
    with ray_head() as address:
        yield address


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs mounted for the test (a disk to fill up, or to remount read-only); skipped without root."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
