"""Tests of so101.training.threads: torch's threads chosen by the machine's free cores."""

from __future__ import annotations

import pytest

from so101.training import threads


def test_requested_threads_win() -> None:
    assert threads.choose_threads(3) == 3
    with pytest.raises(ValueError, match="--torch_threads"):
        threads.choose_threads(0)


def test_default_is_the_free_cores_and_at_least_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    monkeypatch.setattr(threads, "busy_cores", lambda: 3)
    assert threads.choose_threads() == 5
    monkeypatch.setattr(threads, "busy_cores", lambda: 12)  # another job saturates the machine
    assert threads.choose_threads() == 1


def test_processes_of_one_run_share_the_free_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    monkeypatch.setattr(threads, "busy_cores", lambda: 1)
    assert threads.choose_threads(processes=2) == 3
    assert threads.choose_threads(processes=16) == 1
    assert threads.choose_threads(4, processes=2) == 4


def test_busy_cores_are_measured_now(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    assert 0 <= threads.busy_cores(0.2) <= threads.usable_cores()
    # A busy loop on one core while it measures: at least that core counts (others may be busy too).
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        time.sleep(0.05)
        assert threads.busy_cores(0.5) >= 1
    finally:
        stop.set()
        worker.join()


def test_apply_sets_torch_threads() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        threads.apply_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
