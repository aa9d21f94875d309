"""The reference project under gunicorn on 127.0.0.1, for the tests and the benchmark: a Django
database and a ledger of their own in a folder, migrated, and a server that is stopped afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def environment(folder: Path, ledger_url: str | None = None, **extra: str) -> dict[str, str]:
    """The variables the reference settings read: Django's tables in `folder`, the ledger at
    `ledger_url` (default: a SQLite file in `folder`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDITBOOK_", "DJANGO_", "DATABASE_URL"))}
    env.update(
        CREDITBOOK_REFERENCE_DIR=str(folder),
        CREDITBOOK_DATABASE_URL=ledger_url or f"sqlite:///{folder / 'ledger.db'}",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """`python -m reference ARGS` in that environment; its standard output (raises on failure)."""
    done = subprocess.run(
        [sys.executable, "-m", "reference", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python -m reference {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn(
    env: dict[str, str],
    workers: int = 2,
    app: str = "reference.wsgi",
    ready: str = "/api/credits/schema/",
    timeout: float = 60,
) -> Iterator[str]:
    """A gunicorn server of `app` on a free port; yields its base URL once `ready` answers."""
    port = free_port()
    log = Path(env["CREDITBOOK_REFERENCE_DIR"]) / f"gunicorn-{port}.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), app, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
             "--graceful-timeout", "5", "--log-level", "warning"],
            env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(base + ready, timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not come up:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
