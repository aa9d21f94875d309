"""Every command answers bad arguments and paths with one line on stderr and a documented exit
code: never a traceback, never a hang, nothing left behind.

Each case names a command line with placeholders for the hostile paths the `paths` fixture makes
(a FIFO, a folder, a 300 MB sparse file, a text file, a missing file, a missing folder); the test
runs it through typer's CliRunner and checks the exit code, that stderr is exactly one line starting
with the command, that no traceback appears, and that the folder holds what it held before. FIFOs
and devices are also run through the installed command in a subprocess with a timeout (a FIFO
opened for reading blocks until a writer comes: a hang is only visible from outside).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from tests.support.paths import IN_V2, US_V1

runner = CliRunner()
SCRIPT = Path(sys.executable).parent / "creditbook"
US, IN = str(US_V1), str(IN_V2)
SMS = ["quote", US, "--product", "sms", "--units", "5"]
LONG = "x" * 5_000


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    fifo = tmp_path / "pipe.xlsx"
    os.mkfifo(fifo)
    big = tmp_path / "big.xlsx"
    with big.open("wb") as handle:  # sparse: 300 MB on paper, nothing on disk
        handle.truncate(300 * 1024 * 1024)
    text = tmp_path / "notes.txt"
    text.write_text("not a workbook")
    (tmp_path / "folder").mkdir()
    return {
        "fifo": str(fifo),
        "big": str(big),
        "text": str(text),
        "dir": str(tmp_path / "folder"),
        "missing": str(tmp_path / "missing.xlsx"),
        "nofolder": str(tmp_path / "no" / "such" / "out.xlsx"),
        "out": str(tmp_path / "out.xlsx"),
        "long_name": str(tmp_path / ("n" * 300 + ".xlsx")),
        "db": str(tmp_path / "missing.db"),
    }


# (command line, exit code, text the one line holds). {name} is a path from the fixture.
CASES: list[tuple[list[str], int, str]] = [
    # workbooks given to every command that reads one
    (["pricebook", "validate", "{fifo}"], 2, "is not a regular file"),
    (["pricebook", "validate", "/dev/zero"], 2, "'/dev/zero' is not a regular file"),
    (["pricebook", "validate", "{dir}"], 2, "is a folder, not a file"),
    (["pricebook", "validate", "{missing}"], 2, "no such file"),
    (["pricebook", "validate", "{big}"], 2, "is too large: 314,572,800 bytes"),
    (["pricebook", "validate", "{long_name}"], 2, "cannot be opened: file name too long"),
    (["pricebook", "validate", "a\x00b.xlsx"], 2, "contains a NUL character"),
    (["pricebook", "validate", LONG], 2, "an argument of 5,000 characters is too long"),
    (["pricebook", "validate", "\udcff.xlsx"], 2, "is not valid UTF-8"),
    (["pricebook", "validate", US, "--previous", "{fifo}"], 2, "is not a regular file"),
    (["pricebook", "validate", US, "--previous", "{missing}"], 2, "no such file"),
    (["pricebook", "validate", US, "--format", "xml"], 2, "Invalid value for '--format'"),
    (["pricebook", "compile", "{fifo}"], 2, "is not a regular file"),
    (["pricebook", "diff", US, "{fifo}"], 2, "is not a regular file"),
    (["pricebook", "diff", "{missing}", US], 2, "no such file"),
    (["pricebook", "dump", "{fifo}"], 2, "is not a regular file"),
    (["pricebook", "dump", "/dev/zero"], 2, "is not a regular file"),
    (["pricebook", "reformat", "{fifo}", "{out}"], 2, "is not a regular file"),
    (["pricebook", "summary", US, "{fifo}"], 2, "is not a regular file"),
    (["quote", "{fifo}", "--product", "sms", "--units", "5"], 2, "is not a regular file"),
    (["ledger", "publish", "{fifo}", "-d", "{db}"], 2, "is not a regular file"),
    (["ledger", "publish", "/dev/zero", "-d", "{db}"], 2, "is not a regular file"),
    # output paths: folders, missing folders, wrong kinds, the input itself
    (["pricebook", "validate", US, "--annotate", "{dir}"], 2, "must end in .xlsx"),
    (["pricebook", "validate", US, "--annotate", "{nofolder}"], 2, "does not exist"),
    (["pricebook", "validate", US, "--annotate", US], 2, "is also an input"),
    (["pricebook", "validate", US, "--annotate", "/proc/checked.xlsx"], 2, "cannot be written"),
    (["pricebook", "compile", US, "-o", "{dir}"], 2, "must end in .json"),
    (["pricebook", "compile", US, "-o", "{nofolder}.json"], 2, "does not exist"),
    (["pricebook", "compile", US, "-o", "/proc/version.json"], 2, "cannot be written"),
    (["pricebook", "template", "{dir}"], 2, "must end in .xlsx"),
    (["pricebook", "template", "{nofolder}"], 2, "does not exist"),
    (["pricebook", "template", "{out}", "--market", "xx"], 2, "Invalid value for '--market'"),
    (["pricebook", "reformat", US, US], 2, "is also an input"),
    (["pricebook", "reformat", US, "{text}"], 2, "must end in .xlsx"),
    # dates at the ends of the calendar and what is not a date
    ([*SMS, "--at", "2026-02-30"], 2, "'2026-02-30' is not a date"),
    ([*SMS, "--at", "0001-01-01"], 2, "is outside 2000-01-01 … 2199-12-31"),
    ([*SMS, "--at", "9999-12-31T23:59:59-12:00"], 2, "is outside"),
    ([*SMS, "--at", "yesterday"], 2, "is not a date"),
    ([*SMS, "--at", ""], 2, "is not a date"),
    ([*SMS, "--at", "2026-03-01T25:00"], 2, "is not a date"),
    ([*SMS, "--at", "2026-03-01T10:00+25:00"], 2, "is not a date"),
    ([*SMS, "--at", "２０２６-０３-０１"], 2, "is not a date"),
    ([*SMS, "--at", "2026-03-01\u202e"], 2, "'2026-03-01\\u202e' is not a date"),
    ([*SMS, "--at", "2" * 200], 2, "is not a date"),
    ([*SMS, "--at", "nan"], 2, "is not a date"),
    (["ledger", "balance", "x", "-d", "{db}", "--at", "2026-13-01"], 2, "is not a date"),
    (["ledger", "expire", "-d", "{db}", "--at", "1e308"], 2, "is not a date"),
    (["ledger", "publish", US, "-d", "{db}", "--at", "-1"], 2, "is not a date"),
    (["ledger", "clinics", "-d", "{db}", "--at", "2200-01-01"], 2, "is outside"),
    (["demo", "seed", "-d", "{db}", "--until", "1999-12-31"], 2, "is outside"),
    # numbers: non-finite, enormous, negative, not numbers
    ([*SMS[:-1], "99999999999999999999999"], 2, "Invalid value for '--units'"),
    ([*SMS[:-1], "-1"], 2, "Invalid value for '--units'"),
    ([*SMS[:-1], "1e3"], 2, "Invalid value for '--units'"),
    (["quote", US, "--product", "voice", "--recipients", "9", "--seconds", "nan"], 2, "'--seconds'"),
    (["quote", US, "--product", "voice", "--recipients", "9", "--seconds", "inf"], 2, "'--seconds'"),
    (["quote", US, "--product", "voice", "--recipients", "-9"], 2, "'--recipients'"),
    (["quote", US, "--product", "voice", "--call", "1e30"], 2, "'--call': '1e30' is not a number"),
    (["quote", US, "--product", "voice", "--call", "nan:busy"], 2, "'--call'"),
    (["quote", US, "--product", "voice", "--call", "61:explode"], 1, "cannot quote: outcome: 'explode' is not allowed"),
    (["quote", IN, "--product", "lead_call", "--package-price", "1e400"], 2, "'--package-price'"),
    (["quote", IN, "--product", "lead_call", "--package-price", "9" * 400], 2, "'--package-price'"),
    (["quote", IN, "--product", "lead_call", "--package-price", "-inf"], 2, "'--package-price'"),
    (["quote", IN, "--product", "lead_call", "--package-price", "lots"], 1, "cannot quote: package_price"),
    (["quote", IN, "--product", "lead_call", "--quantity", "0"], 1, "cannot quote: quantity"),
    ([*SMS, "--balance", "1" + "0" * 30], 2, "'--balance'"),
    ([*SMS, "--used", "-1"], 2, "'--used'"),
    (["ledger", "history", "x", "-d", "{db}", "--page", "0"], 2, "'--page'"),
    (["ledger", "history", "x", "-d", "{db}", "--page-size", "5000"], 2, "'--page-size'"),
    (["ledger", "history", "x", "-d", "{db}", "--kind", "theft"], 2, "'--kind'"),
    (["ledger", "history", "x", "-d", "{db}", "--status", "maybe"], 2, "'--status'"),
    (["demo", "seed", "-d", "{db}", "--months", "0"], 2, "'--months'"),
    (["demo", "seed", "-d", "{db}", "--in-clinics", "-1"], 2, "'--in-clinics'"),
    (["demo", "seed", "-d", "{db}", "--seed", "1" + "0" * 40], 2, "'--seed'"),
    # text: NUL, undecodable bytes, over-long, control and markup characters
    ([*SMS[:2], "--product", "sms\x00"], 2, "contains a NUL character"),
    (["quote", US, "--product", "sms", "--body", LONG, "--recipients", "1"], 2, "too long"),
    (["quote", US, "--product", "sms", "--body", "\udcff", "--recipients", "1"], 2, "not valid UTF-8"),
    ([*SMS, "--plan", "[red]PAYG[/]"], 1, "cannot quote: plan: unknown package code '[RED]PAYG[/]'"),
    (["quote", IN, "--product", "lead_call", "--city", "\x1b]0;pwned\x07"], 1, "cannot quote"),
    (["ledger", "balance", "x\x00y", "-d", "{db}"], 2, "contains a NUL character"),
    (["ledger", "publish", US, "-d", "{db}", "--actor", "\udcff"], 2, "not valid UTF-8"),
    (["ledger", "clinics", "-d", "{text}"], 2, "is not a SQLite database, not a ledger"),
    (["ledger", "clinics", "-d", "{dir}"], 2, "is a folder"),
    (["ledger", "clinics", "-d", "{fifo}"], 2, "is not a regular file"),
    (["ledger", "clinics", "-d", "/dev/zero"], 2, "is not a regular file"),
    (["db", "upgrade", "-d", "{nofolder}.db"], 2, "does not exist"),
    (["db", "upgrade", "-d", "{fifo}"], 2, "is not a regular file"),
    # usage
    (["pricebook", "validate"], 2, "Missing argument 'file'"),
    (["pricebook", "validatee", US], 2, "No such command 'validatee'"),
    (["ledger", "balance", "x", "--bogus"], 2, "No such option: --bogus"),
    (["nosuchcommand"], 2, "No such command 'nosuchcommand'"),
]


def _filled(args: list[str], paths: dict[str, str]) -> list[str]:
    return [arg.format(**paths) if "{" in arg and "}" in arg and "[" not in arg else arg for arg in args]


def _name(args: list[str]) -> str:
    return " ".join(Path(a).name if a in (US, IN) else a for a in args)[:70]


@pytest.mark.parametrize(("args", "exit_code", "message"), CASES, ids=[_name(c[0]) for c in CASES])
def test_a_hostile_argument_gets_one_line_and_an_exit_code(
    paths: dict[str, str], tmp_path: Path, args: list[str], exit_code: int, message: str
) -> None:
    before = sorted(tmp_path.rglob("*"))
    result = runner.invoke(app, _filled(args, paths))
    assert result.exit_code == exit_code, result.output
    assert result.stdout == "", result.stdout
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("creditbook"), result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.output and "\x1b" not in result.stderr
    assert sorted(tmp_path.rglob("*")) == before  # nothing created, nothing half-written


@pytest.mark.parametrize(
    "args",
    [
        ["pricebook", "validate", "{fifo}"],
        ["pricebook", "dump", "{fifo}"],
        ["pricebook", "diff", "{fifo}", "{fifo}"],
        ["quote", "{fifo}", "--product", "sms", "--units", "1"],
        ["ledger", "publish", "{fifo}", "-d", "{db}"],
        ["ledger", "clinics", "-d", "{fifo}"],
        ["pricebook", "validate", "/dev/zero"],
        ["pricebook", "summary", "/dev/stdin"],
    ],
    ids=" ".join,
)
def test_a_fifo_or_a_device_never_hangs_the_installed_command(paths: dict[str, str], args: list[str]) -> None:
    done = subprocess.run(
        [str(SCRIPT), *_filled(args, paths)],
        stdin=subprocess.PIPE,  # /dev/stdin is a pipe no one writes to
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "is not a regular file" in done.stderr


def test_an_internal_error_is_one_line_with_an_id_and_a_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An unexpected exception anywhere: exit 3, one line asking for a bug report, the traceback in
    a log file (or on screen with --debug)."""

    def broken(path: object) -> list[str]:
        raise RuntimeError("boom in the dump")

    monkeypatch.setattr("engine.pricebook.dump.dump_lines", broken)
    monkeypatch.setenv("CREDITBOOK_LOG_DIR", str(tmp_path))
    result = runner.invoke(app, ["pricebook", "dump", US])
    assert result.exit_code == 3 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("creditbook pricebook dump: internal error ")
    assert "this is a bug in creditbook, please report it" in result.stderr and "boom" not in result.stderr
    (log,) = tmp_path.glob("creditbook-error-*.log")
    error_id = log.stem.removeprefix("creditbook-error-")
    assert f"internal error {error_id}" in result.stderr and str(log) in result.stderr
    assert "RuntimeError: boom in the dump" in log.read_text()
    result = runner.invoke(app, ["--debug", "pricebook", "dump", US])
    assert result.exit_code == 3
    assert "Traceback" in result.stderr and "RuntimeError: boom in the dump" in result.stderr
    assert result.stderr.splitlines()[-1].endswith("(the traceback is above)")


def test_a_closed_output_pipe_ends_the_command_quietly() -> None:
    """`creditbook ... | head`: the reader went away; no traceback, no bug report, exit 141."""
    read, write = os.pipe()
    os.close(read)  # nobody will read: the first write fails with EPIPE
    try:
        done = subprocess.run(
            [str(SCRIPT), "pricebook", "compile", US],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
