"""Run one case in a forked child under a time and a memory limit, and say how it went.

A hostile input must not hang the validator nor exhaust memory; in-process, a hang would hang the
test run and a Rust allocation failure would abort it. So each case runs in a child process (fork:
everything is already imported) whose address space is capped with RLIMIT_AS, and the parent kills
it at the deadline. The outcome says whether it returned, raised (with the traceback), hung or
died, with its time and how much its resident memory grew.
"""

from __future__ import annotations

import os
import pickle
import resource
import select
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    status: str  # ok | raised | hung | died
    seconds: float
    megabytes: float  # growth of the child's peak resident memory over what it started with
    value: Any = None
    error: str = ""


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _child(function: Callable[..., Any], args: tuple[Any, ...], megabytes: int, write: int) -> None:
    started = time.perf_counter()
    resident = _status_kb("VmRSS")
    try:
        limit = _status_kb("VmSize") * 1024 + megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
        value = function(*args)
        payload: tuple[Any, ...] = ("ok", value, "")
    except BaseException:  # the point is to report anything at all
        payload = ("raised", None, traceback.format_exc())
    grown = max(0, _status_kb("VmHWM") - resident) / 1024
    data = pickle.dumps((*payload, time.perf_counter() - started, grown))
    view = memoryview(data)
    while view:
        view = view[os.write(write, view) :]


def run_bounded(function: Callable[..., Any], *args: Any, seconds: float, megabytes: int) -> Outcome:
    """`function(*args)` in a child limited to `megabytes` more address space and `seconds`."""
    read, write = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the test runner
        try:
            os.close(read)
            _child(function, args, megabytes, write)
        finally:
            os._exit(0)
    os.close(write)
    chunks: list[bytes] = []
    deadline = started + seconds
    hung = False
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            hung = True
            break
        ready, _, _ = select.select([read], [], [], left)
        if ready:
            chunk = os.read(read, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(read)
    if hung:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    elapsed = time.perf_counter() - started
    if hung:
        return Outcome("hung", elapsed, 0.0)
    if not chunks:
        return Outcome("died", elapsed, 0.0, error="the child ended without an answer (killed or aborted)")
    status, value, error, took, grown = pickle.loads(b"".join(chunks))
    return Outcome(status, took, grown, value, error)
