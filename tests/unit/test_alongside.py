"""``container_runtime.alongside``: the companions' thread of a session start is always
waited for, so a rollback after an error sees everything it made."""

from __future__ import annotations

import threading
import time

import pytest

from podspawn.runtime.container_runtime import alongside


def test_both_run_at_the_same_time_and_the_work_result_is_returned() -> None:
    both = threading.Barrier(2, timeout=5)  # broken (an error) unless both wait at once

    def work() -> list[str]:
        both.wait()
        return ["db"]

    assert alongside(work, lambda: both.wait() and None) == ["db"]


def test_an_error_here_waits_for_the_work_before_it_propagates() -> None:
    made: list[str] = []

    def work() -> None:
        time.sleep(0.3)
        made.append("db")

    def here() -> None:
        raise RuntimeError("session container failed")

    with pytest.raises(RuntimeError, match="session container failed"):
        alongside(work, here)
    assert made == ["db"]  # what the rollback removes is all there


def test_an_error_of_the_work_is_raised_here_after_both_end() -> None:
    done: list[str] = []

    def work() -> None:
        raise ValueError("companion db stopped right after starting")

    def here() -> None:
        time.sleep(0.2)
        done.append("session")

    with pytest.raises(ValueError, match="companion db"):
        alongside(work, here)
    assert done == ["session"]


def test_an_interrupt_during_the_wait_still_waits_and_is_raised_after() -> None:
    made: list[str] = []
    release = threading.Event()

    def work() -> None:
        release.wait(5)
        made.append("db")

    def here() -> None:
        threading.Timer(0.2, release.set).start()
        raise KeyboardInterrupt  # as a login's signal handler does

    with pytest.raises(KeyboardInterrupt):
        alongside(work, here)
    assert made == ["db"]
