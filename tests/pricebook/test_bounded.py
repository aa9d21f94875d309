"""The runner the hostile property tests rely on tells a hang, a crash, a traceback and memory use
apart (a runner that always said 'ok' would make those tests pass by construction)."""

from __future__ import annotations

import os
import signal
import time

from tests.pricebook.bounded import run_bounded


def _allocate(megabytes: int) -> int:
    block = bytearray(megabytes * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch every page, so it is resident
    return len(block)


def test_a_case_that_returns_reports_its_time_and_memory() -> None:
    outcome = run_bounded(_allocate, 64, seconds=20, megabytes=512)
    assert outcome.status == "ok" and outcome.value == 64 * 1024 * 1024
    assert 60 <= outcome.megabytes < 200


def test_a_case_past_its_memory_limit_raises_instead_of_growing() -> None:
    outcome = run_bounded(_allocate, 2_048, seconds=20, megabytes=256)
    assert outcome.status == "raised" and "MemoryError" in outcome.error


def test_a_hang_is_killed_at_the_deadline() -> None:
    started = time.perf_counter()
    assert run_bounded(time.sleep, 30, seconds=1, megabytes=256).status == "hung"
    assert time.perf_counter() - started < 10


def _killed() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # what an aborting Rust allocation looks like from outside


def test_a_traceback_and_a_killed_child_are_told_apart() -> None:
    raised = run_bounded(int, "x", seconds=10, megabytes=256)
    assert raised.status == "raised" and "ValueError" in raised.error
    assert run_bounded(_killed, seconds=10, megabytes=256).status == "died"
