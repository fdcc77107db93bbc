"""SIGTERM and SIGHUP take Ctrl-C's path during a deployment; during the release no stop signal interrupts."""

from __future__ import annotations

import os
import signal
import time

import pytest

from so101.inference.deploy_signals import STOP_SIGNALS, signals_held, signals_interrupt


def wait_for_signal() -> None:
    """Give the interpreter the moments it needs to run a pending handler."""
    for _ in range(100):
        time.sleep(0.01)


@pytest.mark.parametrize("number", STOP_SIGNALS, ids=lambda n: signal.Signals(n).name)
def test_every_stop_signal_becomes_a_keyboard_interrupt_and_the_handlers_come_back(number: int) -> None:
    before = {n: signal.getsignal(n) for n in STOP_SIGNALS}
    with pytest.raises(KeyboardInterrupt) as interrupt, signals_interrupt():
        os.kill(os.getpid(), number)
        wait_for_signal()
    assert str(interrupt.value) == signal.Signals(number).name
    assert {n: signal.getsignal(n) for n in STOP_SIGNALS} == before


def test_stop_signals_during_the_release_are_noted_not_acted_on() -> None:
    with signals_interrupt(), signals_held() as received:
        for number in STOP_SIGNALS:
            os.kill(os.getpid(), number)
            wait_for_signal()
    assert received == ["SIGINT", "SIGTERM", "SIGHUP"]


def test_outside_the_main_thread_signals_are_left_alone() -> None:
    import threading

    seen: list[object] = []

    def body() -> None:
        with signals_interrupt():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [before]
