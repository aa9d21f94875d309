"""The command line as the pricing team and CI use it: exit codes, formats, files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from engine import load_compiled_json, load_pricebook
from engine.cli import app
from tests.conftest import IN_V1, IN_V2, ROOT, US_V1
from tests.pricebook.book import Book

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_help_lists_the_pricebook_commands() -> None:
    code, out = run("pricebook", "--help")
    assert code == 0
    for command in ("validate", "compile", "diff", "dump", "template", "reformat", "summary"):
        assert command in out


def test_validate_exit_codes_and_text(tmp_path: Path) -> None:
    code, out = run("pricebook", "validate", US_V1)
    assert code == 0 and "OK: 0 errors, 0 warnings" in out
    book = Book(US_V1)
    where = book.set("UsageTiers", "SMS-4", "stated_tier_credits", "2.7K")
    code, out = run("pricebook", "validate", book.save(tmp_path / "bad.xlsx"))
    assert code == 1 and where in out and "237,000" in out
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"PK\x03\x04 not really")
    code, out = run("pricebook", "validate", junk)
    assert code == 2 and "F01" in out


def test_validate_json_and_annotate(tmp_path: Path) -> None:
    book = Book(US_V1)
    book.set("Bundles", "BN-SMS-VOICE", "discount_pct", 10)
    draft = book.save(tmp_path / "draft.xlsx")
    annotated = tmp_path / "annotated.xlsx"
    result = runner.invoke(app, ["pricebook", "validate", str(draft), "--format", "json", "--annotate", str(annotated)])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["errors"] == 1
    (finding,) = [f for f in data["findings"] if f["severity"] == "error"]
    assert (finding["code"], finding["sheet"], finding["value"]) == ("C05", "Bundles", 10)
    assert annotated.exists()


def test_validate_with_previous(tmp_path: Path) -> None:
    code, out = run("pricebook", "validate", IN_V2, "--previous", IN_V1)
    assert code == 0
    code, out = run("pricebook", "validate", IN_V1, "--previous", IN_V2)
    assert code == 1 and "D04" in out and "D05" in out


def test_compile_writes_canonical_json(tmp_path: Path) -> None:
    out = tmp_path / "us.json"
    code, text = run("pricebook", "compile", US_V1, "-o", out)
    pricebook = load_pricebook(US_V1)
    assert code == 0 and pricebook.semantic_hash in text
    assert load_compiled_json(out.read_text()) == pricebook


def test_diff_text_and_json() -> None:
    code, out = run("pricebook", "diff", IN_V1, IN_V2)
    assert code == 0 and "LeadPrices" in out and "+ LP-03" in out
    result = runner.invoke(app, ["pricebook", "diff", str(IN_V1), str(IN_V2), "--format", "json"])
    data = json.loads(result.stdout)
    assert {"sheet": "LeadPrices", "rule_id": "LP-CHAT"}.items() <= next(
        r for r in data["rows"] if r["rule_id"] == "LP-CHAT"
    ).items()


def test_template_dump_reformat_and_summary(tmp_path: Path) -> None:
    template = tmp_path / "new.xlsx"
    code, _ = run("pricebook", "template", template, "--market", "in")
    assert code == 0 and template.exists()
    code, out = run("pricebook", "dump", template)
    assert code == 0 and "[LeadPrices]" in out and "market = IN" in out
    reformatted = tmp_path / "re.xlsx"
    code, _ = run("pricebook", "reformat", US_V1, reformatted)
    assert code == 0 and load_pricebook(reformatted).semantic_hash == load_pricebook(US_V1).semantic_hash
    code, out = run("pricebook", "summary")
    assert code == 0
    for name in ("us-audiology v1", "in-clinic-leads v1", "in-clinic-leads v2", "SOLO-SMS", "LP-03"):
        assert name in out


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "creditbook"
    result = subprocess.run(
        [str(script), "pricebook", "validate", str(US_V1)], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "us-audiology v1" in result.stdout


def test_quote_command_explains_a_lead_and_a_campaign() -> None:
    code, out = run(
        "quote",
        IN_V1,
        IN_V2,
        "--product",
        "lead_call",
        "--specialty",
        "dermatology",
        "--city",
        "Mumbai",
        "--package-price",
        "15,000",
        "--at",
        "2026-05-01T10:00:00+05:30",
        "--explain",
    )
    assert code == 0
    assert "lead · call · dermatology · Mumbai · package ₹15,000 → rule LP-03 → 250 credits (₹250)" in " ".join(
        out.split()
    )
    code, out = run(
        "quote",
        US_V1,
        "--product",
        "sms",
        "--units",
        "600",
        "--used",
        "400",
        "--balance",
        "200000",
        "--at",
        "2026-03-01",
        "--explain",
    )
    assert code == 0 and "SMS-1: 100 × 85 credits = 8,500" in out and "1,839 more SMS segments" in " ".join(out.split())
    code, out = run(
        "quote",
        US_V1,
        "--product",
        "voice",
        "--call",
        "61",
        "--call",
        "300:busy",
        "--at",
        "2026-03-01",
        "--format",
        "json",
    )
    assert code == 0 and json.loads(out)["credits"] == 2 * 160


def test_quote_command_refuses_bad_requests() -> None:
    code, out = run("quote", US_V1, "--product", "sms", "--units", "-5", "--at", "2026-03-01")
    assert code == 1 and "units: cannot be negative" in out
    code, out = run("quote", IN_V2, "--product", "lead_call", "--at", "2025-01-01")
    assert code == 1 and "takes effect 2026-01-01" in out


def test_the_command_line_starts_without_the_ledger_or_the_simulator() -> None:
    """`creditbook pricebook dump` is git's textconv for every .xlsx in a diff: it must not load
    SQLAlchemy, durable-rules or pandas to start."""
    probe = "import engine.cli, sys; print(sorted(m for m in ('sqlalchemy', 'pandas', 'durable') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
