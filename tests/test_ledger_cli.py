"""`creditbook db|ledger|demo` as an operator uses them, on a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from tests.conftest import IN_V1, IN_V2, US_V1
from tests.pricebook.book import Book

runner = CliRunner()
UNTIL = "2026-11-20T12:00"


def run(*args: object) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    code, out = run("demo", "seed", "-d", path, "--months", 1, "--us-clinics", 4, "--in-clinics", 4, "--until", UNTIL)
    assert code == 0, out
    assert "Demo ledger ready: 8 clinics (4 IN, 4 US)" in out and "Reconcile: OK" in out
    return path


def test_help_lists_every_ledger_command() -> None:
    code, out = run("ledger", "--help")
    assert code == 0
    for command in ("balance", "history", "reconcile", "expire", "publish", "clinics"):
        assert command in out
    assert run("db", "--help")[0] == 0 and "seed" in run("demo", "--help")[1]


def test_db_upgrade_then_publish_then_refusals(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    code, out = run("db", "upgrade", "-d", db)
    assert code == 0 and "up to date" in out
    code, out = run("ledger", "publish", US_V1, "-d", db, "--at", "2025-06-01")
    assert code == 0 and "Published us-audiology v1 (20221d9bb442)" in out
    code, out = run("ledger", "publish", US_V1, "-d", db)
    assert code == 0 and "already published" in out  # the same file again: idempotent
    for path in (IN_V1, IN_V2):
        assert run("ledger", "publish", path, "-d", db)[0] == 0
    book = Book(IN_V2)
    book.set("LeadPrices", "LP-03", "lead_price_credits", 260)  # its examples on the Tests sheet now disagree
    code, out = run("ledger", "publish", book.save(tmp_path / "in-v2-priced.xlsx"), "-d", db)
    assert code == 1 and "PricebookRejected" in out and "Tests!M2" in out
    book = Book(IN_V2)
    book.set("Alerts", "AL-LOW", "threshold", 1_500)  # a real change, but dated like v2
    code, out = run("ledger", "publish", book.save(tmp_path / "in-v2-alert.xlsx"), "-d", db)
    assert code == 1 and "is not after in-clinic-leads v2" in " ".join(out.split())


def test_balance_and_history_show_credits_and_money(demo: Path) -> None:
    listing = run("ledger", "clinics", "-d", demo)[1]
    clinic = next(line.split()[1] for line in listing.splitlines() if line.startswith("│ in-"))
    code, out = run("ledger", "balance", clinic, "-d", demo, "--at", UNTIL)
    assert code == 0 and "Balance" in out and "credits (₹" in out
    code, out = run("ledger", "balance", clinic, "-d", demo, "--format", "json", "--at", UNTIL)
    view = json.loads(out)
    assert view["currency"] == "INR" and view["clinic_id"] == clinic
    code, out = run("ledger", "history", clinic, "-d", demo, "--kind", "charge", "--format", "json")
    page = json.loads(out)
    assert page["total"] > 0 and {row["kind"] for row in page["rows"]} == {"charge"}
    code, out = run("ledger", "history", clinic, "-d", demo, "--page-size", 5)
    assert code == 0 and "₹" in out and "LP-" in out
    code, out = run("ledger", "balance", "no-such-clinic", "-d", demo)
    assert code == 1 and "UnknownClinic" in out


def test_seeding_again_changes_nothing(demo: Path) -> None:
    before = sqlite3.connect(demo).execute("select count(*), sum(balance) from accounts").fetchone()
    count = sqlite3.connect(demo).execute("select count(*) from transactions").fetchone()
    code, out = run("demo", "seed", "-d", demo, "--months", 1, "--us-clinics", 4, "--in-clinics", 4, "--until", UNTIL)
    assert code == 0, out
    assert sqlite3.connect(demo).execute("select count(*), sum(balance) from accounts").fetchone() == before
    assert sqlite3.connect(demo).execute("select count(*) from transactions").fetchone() == count


def test_reconcile_names_exactly_the_wallet_and_lot_that_were_corrupted(demo: Path, tmp_path: Path) -> None:
    corrupted = tmp_path / "corrupted.db"
    with sqlite3.connect(demo) as source, sqlite3.connect(corrupted) as target:
        source.backup(target)
    code, out = run("ledger", "reconcile", "-d", corrupted)
    assert code == 0 and "OK" in out
    with sqlite3.connect(corrupted) as conn:
        wallet, clinic = conn.execute("select id, clinic_id from accounts where kind = 'wallet' limit 1").fetchone()
        conn.execute("update accounts set balance = balance + 7 where id = ?", (wallet,))
        lot = conn.execute("select id from lots where remaining > 10 order by id desc limit 1").fetchone()[0]
        conn.execute("update lots set remaining = remaining - 3 where id = ?", (lot,))
    code, out = run("ledger", "reconcile", "-d", corrupted)
    assert code == 1
    drifts = [line for line in out.splitlines() if line.startswith("drift")]
    assert any(f"(a) wallet {wallet} (clinic {clinic})" in line for line in drifts)
    assert any(f"(d) lot {lot} " in line for line in drifts)
    assert all(f"wallet {wallet}" in line or f"lot {lot} " in line or "(e)" in line for line in drifts)


def test_expire_is_safe_to_run_twice(demo: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    with sqlite3.connect(demo) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    code, first = run("ledger", "expire", "-d", copy, "--at", "2027-12-31")
    assert code == 0 and "Expired" in first
    code, second = run("ledger", "expire", "-d", copy, "--at", "2027-12-31")
    assert code == 0 and "Expired 0 lots" in second
    assert run("ledger", "reconcile", "-d", copy)[0] == 0
