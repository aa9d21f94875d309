"""The command line as the pricing team and CI use it: exit codes, formats, files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from engine import load_compiled_json, load_pricebook
from engine.cli import LAZY_COMMANDS, app, load_command
from tests.support.paths import IN_V1, IN_V2, ROOT, US_V1
from tests.support.workbooks import Book

runner = CliRunner()


def run(*args: object) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_help_lists_the_pricebook_commands() -> None:
    code, out = run("pricebook", "--help")
    assert code == 0
    for command in ("validate", "compile", "diff", "dump", "template", "reformat", "summary"):
        assert command in out


def test_help_lists_every_command_and_the_exit_codes() -> None:
    code, out = run("--help")
    text = " ".join(out.split())
    assert code == 0
    for command, (_module, _attribute, summary) in LAZY_COMMANDS.items():
        assert f"{command} {summary}" in text  # listed without loading its module
    assert "pricebook Validate, compile" in text and "--debug" in text
    for exit_code in ("0 ok", "1 findings or refused", "2 bad usage or unreadable input", "3 internal error"):
        assert exit_code in text


def test_lazy_commands_summaries_match_their_own_help() -> None:
    """The root's one-line summaries of lazily loaded commands are the commands' own."""
    for name, (_module, _attribute, summary) in LAZY_COMMANDS.items():
        assert load_command(name).get_short_help_str(limit=200) == summary, name


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
    assert [p.name for p in tmp_path.iterdir()] == ["us.json"]  # no partial file left beside it


def test_compile_without_out_writes_json_to_standard_output() -> None:
    result = runner.invoke(app, ["pricebook", "compile", str(US_V1)])
    pricebook = load_pricebook(US_V1)
    assert result.exit_code == 0
    assert result.stdout == pricebook.canonical_json() + "\n"
    assert result.stderr.strip() == f"{pricebook.label}: semantic hash {pricebook.semantic_hash}"


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


def test_summary_shows_an_offers_last_day_as_the_workbook_states_it() -> None:
    """The workbook's valid_to is the last day, inclusive (dump shows the cell as typed); summary
    says the same day, not the exclusive midnight after it."""
    dumped = run("pricebook", "dump", IN_V2)[1]
    assert "valid_from=2026-11-01 valid_to=2026-12-31" in dumped
    code, out = run("pricebook", "summary", IN_V2)
    row = next(line for line in out.splitlines() if "IN-DOUBLE5K" in line)
    assert code == 0 and "2026-11-01 → 2026-12-31" in row and "2027-01-01" not in out


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
    code, out = run("quote", US_V1, "--product", "fax", "--units", "5", "--at", "2026-03-01")
    assert code == 1 and out.startswith("creditbook quote: cannot quote: product") and out.count("\n") == 1
    code, out = run("quote", IN_V2, "--product", "lead_call", "--at", "2025-01-01")
    assert code == 1 and "takes effect 2026-01-01" in out
    code, out = run("quote", US_V1, "--product", "sms", "--units", "-5", "--at", "2026-03-01")
    assert code == 2 and "'--units': Input should be greater than or equal to 0" in out  # bad usage


def test_quote_reads_a_time_without_offset_in_the_pricebooks_zone() -> None:
    """v2 takes effect at midnight in India (18:30 UTC the day before): 00:30 local is v2, not v1."""
    args = ["quote", IN_V1, IN_V2, "--product", "lead_call", "--package-price", "15000", "--format", "json"]
    local = json.loads(run(*args, "--at", "2026-01-01T00:30")[1])
    utc = json.loads(run(*args, "--at", "2025-12-31T23:59+00:00")[1])
    assert (local["credits"], utc["credits"]) == (250, 250)
    before = json.loads(run(*args, "--at", "2025-12-31T23:59")[1])
    assert before["credits"] == 500  # still v1's flat call price in India


HELP_PROBE = """
import contextlib, io, sys
before = set(sys.modules)
import typer
from engine.cli import app
command = typer.main.get_command(app)
for args in {helps!r}:
    with contextlib.redirect_stdout(io.StringIO()):
        assert command.main(args, standalone_mode=False) == 0, args
heavy = {{'rich', 'pydantic', 'sqlalchemy', 'alembic', 'pandas', 'numpy', 'openpyxl', 'simulator', 'durable', 'yaml'}}
print(sorted(heavy & {{name.split('.')[0] for name in set(sys.modules) - before}}))
"""


def test_help_starts_without_the_heavy_parts() -> None:
    """`creditbook --help` and every command's help load typer and the standard library only: no
    rich, pydantic, SQLAlchemy, pandas, openpyxl or simulator (`import engine` itself loads nothing).
    `simulate --help` is left out: simulator/cli.py imports rich when loaded."""
    helps = [["--help"], ["pricebook", "--help"], ["quote", "--help"], ["ledger", "--help"], ["demo", "--help"]]
    helps += [["pricebook", c, "--help"] for c in ("validate", "compile", "diff", "dump", "template", "summary")]
    helps += [["ledger", c, "--help"] for c in ("balance", "history", "publish", "clinics")]
    helps += [["db", "upgrade", "--help"], ["demo", "seed", "--help"]]
    probe = HELP_PROBE.format(helps=helps)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
