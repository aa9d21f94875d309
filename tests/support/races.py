"""Threads that start together, for the tests that race the ledger."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


def start_and_join(threads: Iterable[threading.Thread]) -> None:
    """Start every thread, then wait for each to finish."""
    started = list(threads)
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()


@dataclass
class Raced:
    results: list[Any]
    errors: list[BaseException]


def race(workers: int, work: Callable[[int], list[Any]]) -> Raced:
    """Run `work(worker)` in `workers` threads released together by a barrier."""
    barrier = threading.Barrier(workers)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(worker: int) -> None:
        barrier.wait()
        try:
            done = work(worker)
            with lock:
                results.extend(done)
        except BaseException as exc:  # every failure is a finding of the test, reported by it
            with lock:
                errors.append(exc)

    start_and_join(threading.Thread(target=run, args=(n,)) for n in range(workers))
    return Raced(results, errors)
