"""`creditbook payments sweep` as an operator runs it (a cron job), with Stripe's keys in the
environment pointing at the stub, on a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.billing import Billing, PaymentGatewayError
from engine.cli import app
from tests.support import provider_stubs as stubs
from tests.support.clock import START, Clock
from tests.support.paths import US_V1
from tests.support.provider_stubs import Fault, StripeStub

runner = CliRunner()


@pytest.fixture
def env(stripe_stub: StripeStub, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "CREDITBOOK_STRIPE_SECRET_KEY": stubs.STRIPE_SECRET,
        "CREDITBOOK_STRIPE_WEBHOOK_SECRET": stubs.STRIPE_WEBHOOK_SECRET,
        "CREDITBOOK_STRIPE_API_BASE": stripe_stub.url,
        "COLUMNS": "200",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run(env: dict[str, str], *args: object) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args], env=env)
    return result.exit_code, result.stdout, result.stderr


def ledger_with_a_lost_answer(path: Path, stub: StripeStub) -> str:
    """A ledger whose purchase Stripe charged but whose answer was lost: one attempt in flight."""
    billing = Billing(f"sqlite:///{path}", clock=Clock(START))
    billing.publish_pricebook(US_V1, actor="pricing", key="publish", at=datetime(2025, 6, 1, tzinfo=UTC))
    billing.register_clinic("riverside", "Riverside Hearing", "US", key="reg")
    stub.faults.append(Fault("/v1/payment_intents", status=502, after=True))
    with pytest.raises(PaymentGatewayError) as lost:
        billing.purchase("riverside", 1_000_000, payment_method=stubs.SUCCEEDS, key="buy")
    billing.db.dispose()
    return str(lost.value.detail["reference"])


def test_the_sweep_settles_what_was_left_in_flight_once_and_says_what_it_did(
    tmp_path: Path, stripe_stub: StripeStub, env: dict[str, str]
) -> None:
    path = tmp_path / "ledger.db"
    reference = ledger_with_a_lost_answer(path, stripe_stub)
    code, out, _ = run(env, "ledger", "reconcile", "-d", path)
    assert code == 0 and "1 payment attempt(s) in flight, the oldest for" in out and out.count("\n") == 2
    code, out, err = run(env, "payments", "sweep", "-d", path, "--at", "2026-03-02T15:05")
    assert (code, err) == (0, "") and "Swept 0 payment attempt(s)" in out  # younger than 15 minutes
    code, out, err = run(env, "payments", "sweep", "-d", path, "--at", "2026-03-02T15:20")
    assert (code, err) == (0, ""), err
    assert f"credited {reference}  riverside  1,000,000 credits ($100.00)" in out
    assert "Swept 1 payment attempt(s) in flight for more than 15 minutes: 1 credited, 0 failed" in out
    code, out, _ = run(env, "payments", "sweep", "-d", path, "--at", "2026-03-02T15:30", "--format", "json")
    assert code == 0 and json.loads(out)["examined"] == 0
    code, out, _ = run(env, "ledger", "balance", "riverside", "-d", path, "--at", "2026-03-02T15:30")
    assert code == 0 and "1,000,000 credits ($100.00)" in out


def test_a_provider_that_does_not_answer_is_one_line_and_exit_1(
    tmp_path: Path, stripe_stub: StripeStub, env: dict[str, str]
) -> None:
    path = tmp_path / "ledger.db"
    reference = ledger_with_a_lost_answer(path, stripe_stub)
    stripe_stub.faults.append(Fault("/v1/payment_intents/search", status=500, method="GET"))
    code, out, err = run(env, "payments", "sweep", "-d", path, "--at", "2026-03-02T15:20")
    assert code == 1 and "1 not answered" in out
    assert err.count("\n") == 1 and err.startswith(f"payments sweep: {reference}: ")
    assert "Traceback" not in out + err
    code, out, _ = run(env, "payments", "sweep", "-d", path, "--at", "2026-03-02T15:21")
    assert code == 0 and "1 credited" in out  # the next sweep settles it


@pytest.mark.parametrize(
    "args",
    [
        ("--older-than", "-1"),
        ("--older-than", "999999"),
        ("--abandon-after", "0"),
        ("--older-than", "600", "--abandon-after", "1"),
        ("--at", "yesterday"),
        ("--limit", "0"),
    ],
)
def test_bad_options_are_refused_with_exit_2(tmp_path: Path, env: dict[str, str], args: tuple[str, ...]) -> None:
    path = tmp_path / "ledger.db"
    assert run(env, "db", "upgrade", "-d", path)[0] == 0
    code, out, err = run(env, "payments", "sweep", "-d", path, *args)
    assert code == 2 and "Traceback" not in out + err


def test_a_missing_ledger_is_refused_not_created(tmp_path: Path, env: dict[str, str]) -> None:
    code, _, err = run(env, "payments", "sweep", "-d", tmp_path / "typo.db")
    assert code == 2 and "no ledger at" in err and not (tmp_path / "typo.db").exists()
