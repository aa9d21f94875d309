"""Alerts that reach people: events written with the change that caused them, delivered at least once
to a webhook receiver this test runs on 127.0.0.1 — while it is down, slow, answering 500, and back —
with the event id for de-duplication and a signature the receiver checks with the shared secret;
retried with backoff until dead; a worker killed mid-send resumed by another; one low-balance alert per
crossing, not per operation; e-mail through a mailer."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.billing import Billing
from engine.errors import CreditbookError
from engine.notify import webhook
from engine.notify.mail import RecordingMailer
from engine.notify.worker import Policy, Worker
from engine.pricing.requests import LeadRequest
from storage.database import Database
from storage.schema import deliveries, events
from tests.support.clock import Clock

FORK = multiprocessing.get_context("fork")


@dataclass
class Receiver:
    """A webhook receiver: `mode` decides how it answers; it records every request it accepted."""

    secret: str = ""
    mode: str = "ok"  # ok | error (500) | slow (answers after the sender gave up) | hang
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Server:
    """The receiver on a fixed port that can be taken down (connection refused) and brought back."""

    def __init__(self, state: Receiver) -> None:
        self.state = state
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if state.mode == "slow":
                    time.sleep(1.5)
                if state.mode == "hang":
                    time.sleep(30)
                if state.mode == "error":
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"receiver broken")
                    return
                signed = webhook.verify(state.secret, self.headers.get(webhook.SIGNATURE_HEADER, ""), raw)
                with state.lock:
                    if signed:
                        state.received.append({"event_id": self.headers[webhook.EVENT_HEADER], "body": json.loads(raw)})
                    else:
                        state.bad_signatures += 1
                self.send_response(200 if signed else 401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, Server]]:
    state = Receiver()
    server = Server(state)
    server.up()
    yield state, server
    server.down()


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/nobody-listens"


def _dispute(billing: Billing, clinic: str, n: int) -> int:
    charge = billing.charge(clinic, LeadRequest(product="lead_call", package_price=8_000), key=f"lead-{n}")
    return billing.open_dispute(clinic, charge.transaction_id, reason="invalid", key=f"dispute-{n}").dispute_id


def _decide(billing: Billing, clinic: str, n: int) -> None:
    billing.reject_dispute(_dispute(billing, clinic, n), actor="ops", note="reachable", key=f"reject-{n}")


def _count(billing: Billing, table: Any) -> int:
    return int(billing.db.read(lambda conn: conn.execute(select(func.count()).select_from(table)).scalar_one()))


@pytest.fixture
def funded(billing: Billing) -> str:
    billing.register_clinic("c", "Smile Dental", "IN", key="reg")
    billing.purchase("c", 20_000, payment_method="upi_ok", key="fund")
    return "c"


def test_events_are_written_with_their_change_and_only_for_subscribers(
    billing: Billing, funded: str, receiver: tuple[Receiver, Server]
) -> None:
    state, server = receiver
    _, secret = billing.add_notification_endpoint(funded, "webhook", server.url, kinds=["dispute_decided"])
    billing.add_notification_endpoint(funded, "email", "owner@smile.example", kinds=["low_balance"])
    state.secret = secret or ""
    _decide(billing, funded, 1)
    assert _count(billing, events) >= 1 and _count(billing, deliveries) == 1  # the e-mail did not want it
    before = (_count(billing, events), _count(billing, deliveries))
    with pytest.raises(CreditbookError):  # a refused operation leaves no event behind
        billing.reject_dispute(999_999, actor="ops", note="n", key="nothing")
    assert (_count(billing, events), _count(billing, deliveries)) == before
    tally = billing.deliver_notifications()
    assert tally.delivered == 1 and state.bad_signatures == 0
    (got,) = state.received
    assert got["body"]["type"] == "dispute_decided" and got["body"]["clinic_id"] == funded
    assert got["event_id"] == got["body"]["id"]
    assert "rejected" in got["body"]["data"]["message"]


def test_delivery_survives_a_receiver_down_slow_failing_then_back(
    billing: Billing, funded: str, receiver: tuple[Receiver, Server], clock: Clock
) -> None:
    state, server = receiver
    _, secret = billing.add_notification_endpoint(funded, "webhook", server.url)
    state.secret = secret or ""
    worker = Worker(billing.db, clock, policy=Policy(first_delay=timedelta(seconds=10), timeout_s=0.5))
    for n, mode in enumerate(("down", "slow", "error", "ok", "down")):
        _decide(billing, funded, n)
        if mode == "down":
            server.down()
        else:
            if server.server is None:
                server.up()
            state.mode = mode
        worker.run_once()
        clock.advance(minutes=5)  # past the backoff so far
    if server.server is None:
        server.up()
    state.mode = "ok"
    for _ in range(6):  # back: every retry comes due within the backoff's cap
        worker.run_once()
        clock.advance(hours=7)
    written = billing.db.read(lambda conn: set(conn.execute(select(deliveries.c.event_id)).scalars()))
    received = [r["event_id"] for r in state.received]
    assert len(written) >= 5 and set(received) == written, "an event was lost"
    statuses = billing.db.read(lambda conn: set(conn.execute(select(deliveries.c.status)).scalars()))
    assert statuses == {"delivered"}
    assert len(received) > len(written)  # the slow answer came after the sender gave up: sent twice,
    assert all(r["body"]["id"] == r["event_id"] for r in state.received)  # with the same event id
    assert state.bad_signatures == 0


def test_a_delivery_that_never_succeeds_is_dead_after_its_tries(billing: Billing, funded: str, clock: Clock) -> None:
    billing.add_notification_endpoint(funded, "webhook", _closed_port_url())
    _decide(billing, funded, 1)
    worker = Worker(billing.db, clock, policy=Policy(max_attempts=3, first_delay=timedelta(seconds=1)))
    tallies = []
    for _ in range(5):
        tallies.append(worker.run_once())
        clock.advance(hours=1)
    assert sum(t.dead for t in tallies) == 1 and sum(t.retried for t in tallies) == 2
    statuses = billing.db.read(lambda conn: conn.execute(select(deliveries.c.status, deliveries.c.attempts)).all())
    assert [(s, a) for s, a in statuses] == [("dead", 3)]


def _send_in_child(url: str, now: Any) -> None:
    worker = Worker(Database(url), lambda: now, policy=Policy(timeout_s=60))
    worker.run_once()  # blocks on the hanging receiver until killed
    os._exit(0)


def test_a_worker_killed_mid_send_is_resumed_by_another(
    billing: Billing, funded: str, receiver: tuple[Receiver, Server], clock: Clock
) -> None:
    state, server = receiver
    _, secret = billing.add_notification_endpoint(funded, "webhook", server.url)
    state.secret, state.mode = secret or "", "hang"
    _decide(billing, funded, 1)
    child = FORK.Process(target=_send_in_child, args=(billing.db.url, clock.now))
    child.start()
    deadline = time.time() + 20
    while time.time() < deadline:  # wait until the child holds the lease
        leased = billing.db.read(lambda conn: conn.execute(select(deliveries.c.leased_until)).scalar())
        if leased is not None:
            break
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    child.join(timeout=10)
    state.mode = "ok"
    worker = Worker(billing.db, clock)
    assert worker.run_once().delivered == 0  # the lease still holds: nobody sends twice at once
    clock.advance(minutes=3)  # the dead worker's lease lapses
    assert worker.run_once().delivered == 1
    assert len({r["event_id"] for r in state.received}) == 1


def test_one_low_balance_alert_per_crossing(billing: Billing, funded: str, clock: Clock) -> None:
    mailer = RecordingMailer()
    billing.add_notification_endpoint(funded, "email", "owner@smile.example", kinds=["low_balance"])
    balance = billing.balance(funded).balance
    billing.adjust(funded, 500 - balance, actor="ops", reason="test", key="down")  # 500 left: below 1,000
    billing.adjust(funded, -100, actor="ops", reason="test", key="down-2")  # still below: no second alert
    billing.deliver_notifications(mailer)
    assert len(mailer.sent) == 1 and "low balance" in mailer.sent[0][2]
    billing.adjust(funded, 5_000, actor="ops", reason="test", key="up")  # back above
    billing.adjust(funded, -5_000, actor="ops", reason="test", key="down-3")  # crosses again
    billing.deliver_notifications(mailer)
    assert len(mailer.sent) == 2 and mailer.sent[1][0] == "owner@smile.example"


def test_endpoints_refuse_what_cannot_be_delivered(billing: Billing, funded: str) -> None:
    for channel, target, kinds in (
        ("webhook", "ftp://example.com", ()),
        ("webhook", "http://exa mple.com", ()),
        ("email", "not-an-address", ()),
        ("sms", "+1 555", ()),
        ("email", "a@b.example", ("everything",)),
        ("webhook", "https://x.example/" + "a" * 3_000, ()),
    ):
        with pytest.raises(CreditbookError):
            billing.add_notification_endpoint(funded, channel, target, kinds=kinds)
    with pytest.raises(CreditbookError):
        billing.add_notification_endpoint("nobody", "email", "a@b.example")
