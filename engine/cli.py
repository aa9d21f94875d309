"""The `creditbook` command line. It holds no business logic: every command calls the engine.

Two promises shape this module:

- **It starts fast.** `creditbook --help` is typed by people and `creditbook pricebook dump` is git's
  textconv for every workbook in a diff, so importing this module loads typer and the standard
  library only. Each command imports the engine modules it needs when it runs, and the ledger,
  demo and simulator commands live in modules the root group loads only when one of them is named
  (`LAZY_COMMANDS`). Help is plain text (typer's rich help alone cost 0.15 s).
- **Every failure is one line.** Bad arguments, unreadable or unwritable paths, refusals and
  internal errors each print one line on stderr, prefixed by the command, and exit with a
  documented code (`EXIT_CODES`); a traceback is shown only with `--debug` and otherwise goes to a
  log file named in that line.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
import stat
import sys
import traceback
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from rich.console import Console

    from engine.pricebook.model import CompiledPricebook
    from engine.pricebook.validate import Report

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_PIPE = 0, 1, 2, 3, 130, 141
EXIT_CODES = (
    "Exit codes: 0 ok (warnings allowed); 1 findings or refused (errors in a workbook, a quote or "
    "ledger operation refused, drift found); 2 bad usage or unreadable input (a missing, unreadable or "
    "unwritable path, a bad option value); 3 internal error (a bug: the line names an error id and a "
    "log file; --debug shows the traceback); 130 interrupted; 141 output pipe closed (… | head)."
)
MAX_ARGUMENT_CHARS = 4_096  # longer than any path, id, SMS body or date anyone types
EARLIEST, LATEST = date(2000, 1, 1), date(2199, 12, 31)  # dates a command accepts (ledger history lives here)
SHIPPED = Path(__file__).resolve().parent.parent / "pricebooks"


class CliError(typer.TyperException):
    """A failure the person can fix, shown as one line (`command: message`) with its exit code."""

    where: str | None = None  # the command it came from, when it was raised outside click's context

    def __init__(self, message: str, exit_code: int = EXIT_USAGE):
        super().__init__(message)
        self.exit_code = exit_code


class InternalError(typer.TyperException):
    """An unexpected exception: a bug. Its line gives an error id and where the traceback went."""

    exit_code = EXIT_INTERNAL
    where: str | None = None  # the command it came from


# -- text shown to people --------------------------------------------------------------------------


def _escaped(text: str) -> str:
    """Control, format (bidirectional overrides), surrogate and unassigned characters as escapes,
    so a hostile value can neither break the line nor drive the terminal."""
    out = []
    for ch in text:
        if unicodedata.category(ch)[0] == "C":
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def shown(value: object, limit: int = 240) -> str:
    """A value the person typed (or a file held), quoted, escaped and cut to `limit` characters."""
    text = _escaped(str(value))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'"


def one_line(text: str, limit: int = 600) -> str:
    """A message as exactly one printable line of at most `limit` characters."""
    line = _escaped(" ".join(str(text).split()))
    return line if len(line) <= limit else line[: limit - 1] + "…"


def console(stderr: bool = False) -> Console:
    """A rich console for tables and reports (imported on first use). Markup and emoji codes are off:
    clinic names and workbook text are printed as they are, never interpreted."""
    from rich.console import Console

    return Console(stderr=stderr, markup=False, emoji=False, highlight=False)


# -- paths -----------------------------------------------------------------------------------------


def input_file(path: Path, max_bytes: int | None = None) -> Path:
    """`path` if it is a regular, readable file of at most `max_bytes` (default: the workbook reader's
    own limit), else a CliError. Opened without blocking, so a FIFO or a device never hangs."""
    if max_bytes is None:
        from engine.pricebook.safety import DEFAULT_LIMITS

        max_bytes = DEFAULT_LIMITS.max_total_bytes
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError as exc:
        raise CliError(f"{shown(path)}: no such file") from exc
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise CliError(f"{shown(path)} cannot be opened: {_reason(exc)}") from exc
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    if stat.S_ISDIR(info.st_mode):
        raise CliError(f"{shown(path)} is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise CliError(f"{shown(path)} is not a regular file (a pipe, device or socket)")
    if info.st_size > max_bytes:
        raise CliError(f"{shown(path)} is too large: {info.st_size:,} bytes (at most {max_bytes:,})")
    return path


def output_file(path: Path, suffix: str | None = ".xlsx", inputs: Sequence[Path] = ()) -> Path:
    """`path` if a file can be written there without clobbering an input, else a CliError."""
    if suffix is not None and path.suffix.lower() != suffix:
        raise CliError(f"{shown(path)}: the output file's name must end in {suffix}")
    try:
        if path.exists() and not path.is_file():
            kind = "a folder" if path.is_dir() else "not a regular file"
            raise CliError(f"{shown(path)} is {kind}: give a file name to write")
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise CliError(f"{shown(path)}: the folder {shown(folder)} does not exist")
        for source in inputs:
            if path.exists() and source.exists() and path.samefile(source):
                raise CliError(f"{shown(path)} is also an input: write to another file")
        if path.exists() and not os.access(path, os.W_OK):
            raise CliError(f"{shown(path)} cannot be written: permission denied")
        probe = _partial(path)  # a real write answers what permission bits cannot (root, read-only mounts)
        probe.touch(exist_ok=False)
        probe.unlink()
    except (OSError, ValueError) as exc:
        raise CliError(f"{shown(path)} cannot be written: {_reason(exc)}") from exc
    return path


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.partial{path.suffix}")


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary file beside `path`; it replaces `path` only once the block succeeds, so a
    failed command never leaves a half-written file (or an old one half-overwritten)."""
    partial = _partial(path)
    try:
        yield partial
        os.replace(partial, path)
    except OSError as exc:
        raise CliError(f"{shown(path)} cannot be written: {_reason(exc)}") from exc
    finally:
        partial.unlink(missing_ok=True)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return one_line(str(exc), 200) or type(exc).__name__


# -- dates -----------------------------------------------------------------------------------------

WHEN_HELP = "an ISO date (its whole day) or date-time, e.g. 2026-11-30, 2026-11-30T18:00 or 2026-11-30T18:00+05:30"


@dataclass(frozen=True)
class When:
    """A time typed on the command line. A date alone means the end of that day (so "as of
    2026-11-30" includes the 30th); a date-time without an offset is read in the time zone the
    command resolves it in (the clinic's or the pricebook's; UTC where there is neither)."""

    text: str
    moment: datetime | None = None  # naive: local to the zone given to `at`
    day: date | None = None

    def at(self, zone: str | tzinfo = UTC) -> datetime:
        """The instant, in UTC."""
        if self.text == "now":
            return datetime.now(UTC)
        local = _zone(zone)
        if self.day is not None:
            moment = datetime.combine(self.day, time.max, local)
        else:
            assert self.moment is not None
            moment = self.moment if self.moment.tzinfo else self.moment.replace(tzinfo=local)
        return moment.astimezone(UTC)


def _zone(zone: str | tzinfo) -> tzinfo:
    if isinstance(zone, str):
        from zoneinfo import ZoneInfo

        return ZoneInfo(zone)
    return zone


def parse_when(text: str) -> When:
    """Read `--at`/`--until`: 'now', an ISO date or an ISO date-time between 2000 and 2199."""
    value = text.strip()
    if value.lower() == "now":
        return When("now")
    if len(value) > 40:
        raise typer.BadParameter(f"{shown(value, 40)} is not a date ({WHEN_HELP})")
    try:
        when = When(value, day=date.fromisoformat(value)) if len(value) <= 10 else None
    except ValueError:
        when = None
    if when is None:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise typer.BadParameter(f"{shown(value)} is not a date ({WHEN_HELP})") from None
        when = When(value, moment=moment)
    day = when.day or (when.moment.date() if when.moment else None)
    if day is None or not EARLIEST <= day <= LATEST:
        raise typer.BadParameter(f"{shown(value)} is outside {EARLIEST} … {LATEST}")
    return when


def when_option(help_text: str) -> Any:
    """A `--at`/`--until` style option read by `parse_when`."""
    return typer.Option(parser=parse_when, metavar="WHEN", help=help_text)


# -- the root group: lazy commands, one-line errors ------------------------------------------------

# Commands whose modules are heavy or belong to another package: (module, attribute, one-line help).
# The attribute is a typer.Typer (a group of commands) or a `register(app)` function.
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "ledger": ("engine.ledger_cli", "ledger_app", "Read and maintain the credit ledger."),
    "db": ("engine.ledger_cli", "db_app", "Create or upgrade the ledger database."),
    "demo": ("engine.ledger_cli", "demo_app", "A demo ledger with a few months of history."),
    "notify": ("engine.ledger_cli", "notify_app", "Deliver notifications: signed webhooks and e-mail."),
    "payments": ("engine.ledger_cli", "payments_app", "Settle payment attempts left in flight."),
    "simulate": ("simulator.cli", "register", "Simulate clinics' monthly bills under a scenario's assumptions."),
}


HELP_ORDER = ("pricebook", "quote", "ledger", "payments", "db", "demo", "notify", "simulate")


def load_command(name: str) -> Any:
    """The click command behind a lazy name (imports its module)."""
    module, attribute, _help = LAZY_COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        return typer.main.get_group(target)
    holder = typer.Typer(rich_markup_mode=None, add_completion=False)
    target(holder)
    return typer.main.get_command(holder)


class Group(TyperGroup):
    """A command group whose `--help` flag defaults to False instead of None: typer coerces a None
    through pydantic (importing it costs as much as the rest of start-up) and skips booleans."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option


class Commands(Group):
    """The root group: loads lazy commands when named, and turns every exception into one line.

    `--debug` is read here rather than declared as a typer option: typer coerces every declared
    option through pydantic, and that import alone would double the time `creditbook X --help` takes.
    """

    debug = False

    def list_commands(self, ctx: Any) -> list[str]:
        names = [*self.commands, *(name for name in LAZY_COMMANDS if name not in self.commands)]
        return sorted(names, key=lambda name: HELP_ORDER.index(name) if name in HELP_ORDER else len(HELP_ORDER))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            self.commands[cmd_name] = load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_options(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Options"):
            formatter.write_dl(
                [("--debug", "On an internal error, show the traceback."), ("--help", "Show this message and exit.")]
            )
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is None:
                rows.append((name, LAZY_COMMANDS[name][2]))
            elif not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: Any) -> Any:
        arguments = [*ctx._protected_args, *ctx.args]
        where = self._command_path(ctx, arguments)
        try:
            for argument in arguments:
                _check_argument(argument)
            return super().invoke(ctx)
        except typer.TyperException as exc:
            if getattr(exc, "ctx", None) is None:
                # click's own exception, raised before it had a context: the command path rides on it
                exc.where = where  # type: ignore[attr-defined]
            raise
        except (typer.Exit, typer.Abort, KeyboardInterrupt, EOFError):
            raise
        except BrokenPipeError:  # `creditbook ... | head`: the reader has all it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(EXIT_PIPE) from None
        except OSError as exc:
            if not (exc.strerror and exc.filename):  # an OSError without a file is a bug, not the disk
                raise internal_error(exc, self.debug, where) from exc
            error = CliError(f"{shown(exc.filename)}: {exc.strerror.lower()}")
            error.where = where
            raise error from exc
        except Exception as exc:
            raise internal_error(exc, self.debug, where) from exc

    def _command_path(self, ctx: Any, arguments: list[str]) -> str:
        """'creditbook ledger balance': the names that lead to the command being run."""
        path, command = [ctx.command_path], self
        for name in arguments:
            commands = getattr(command, "commands", None)
            if commands is None or name.startswith("-") or "\x00" in name:
                break
            command = self.get_command(ctx, name) if command is self else commands.get(name)
            if command is None:
                break
            path.append(name)
        return " ".join(path)

    def main(  # type: ignore[override]  # click types main() as overloads on standalone_mode; this returns the code
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        arguments = list(sys.argv[1:] if args is None else args)
        self.debug = "--debug" in arguments[: _first_command(arguments) + 1]
        if self.debug:
            arguments.remove("--debug")
        try:
            result = super().main(
                args=arguments,
                prog_name="creditbook",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
            code = result if isinstance(result, int) else EXIT_OK
            sys.stdout.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            code = EXIT_PIPE
        except typer.TyperException as exc:
            code = _show(exc)
        except typer.Abort:
            code = EXIT_INTERRUPTED
        except Exception as exc:  # raised while parsing, before any command ran
            code = _show(internal_error(exc, self.debug))
        if standalone_mode:
            sys.exit(code)
        return code


def _first_command(arguments: list[str]) -> int:
    """The index of the first argument that is not an option (the command's name)."""
    return next((n for n, argument in enumerate(arguments) if not argument.startswith("-")), len(arguments))


def _check_argument(argument: str) -> None:
    """Every argument of every command: no NUL, no undecodable bytes, no absurd length."""
    if "\x00" in argument:
        raise CliError(f"the argument {shown(argument, 40)} contains a NUL character")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in argument):
        raise CliError(f"the argument {shown(argument, 40)} is not valid UTF-8")
    if len(argument) > MAX_ARGUMENT_CHARS:
        raise CliError(f"an argument of {len(argument):,} characters is too long (at most {MAX_ARGUMENT_CHARS:,})")


def _show(exc: typer.TyperException) -> int:
    """Print a usage error, a CliError or an internal error as one line on stderr; its exit code."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help is the answer
        typer.echo(exc.format_message(), err=True)
        return int(exc.exit_code)
    context = getattr(exc, "ctx", None)
    where = context.command_path if context is not None else (getattr(exc, "where", None) or "creditbook")
    hint = f" (see {where} --help)" if context is not None else ""
    typer.echo(one_line(f"{where}: {exc.format_message()}{hint}"), err=True)
    return int(exc.exit_code)


def internal_error(exc: BaseException, debug: bool, where: str = "creditbook") -> InternalError:
    """Write the traceback to a log file (or stderr with --debug) and return the one-line error."""
    error_id = secrets.token_hex(4)
    details = "".join(traceback.format_exception(exc))
    log_dir = Path(os.environ.get("CREDITBOOK_LOG_DIR") or _temp_dir())
    log = log_dir / f"creditbook-error-{error_id}.log"
    try:
        log.write_text(
            f"creditbook internal error {error_id} at {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}\n"
            f"arguments: {sys.argv[1:]!r}\npython {sys.version.split()[0]}\n\n{details}",
            encoding="utf-8",
            errors="backslashreplace",
        )
        shown_where = f"the traceback is in {log}"
    except OSError:
        shown_where = "rerun with --debug to see the traceback"
    if debug:
        sys.stderr.write(details)
        shown_where = "the traceback is above"
    error = InternalError(f"internal error {error_id}: this is a bug in creditbook, please report it ({shown_where})")
    error.where = where
    return error


def _temp_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


# -- the application -------------------------------------------------------------------------------

app = typer.Typer(
    cls=Commands,
    name="creditbook",
    help="creditbook: pricing rules and a credit ledger for clinics that pay with prepaid credits.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    pretty_exceptions_enable=False,
)
pricebook_app = typer.Typer(
    cls=Group,
    help="Validate, compile, compare and write pricebook workbooks.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(pricebook_app, name="pricebook")


@app.callback()
def root() -> None:
    """creditbook: pricing rules and a credit ledger for clinics that pay with prepaid credits."""


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


class Market(StrEnum):
    us = "us"
    IN = "in"


FileArg = Annotated[Path, typer.Argument(help="A pricebook workbook (.xlsx).", show_default=False)]
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="text or json.")]


def validated(path: Path, previous: Path | None = None) -> Report:
    """Validate a workbook after checking it is a readable regular file."""
    from engine.loader import validate_pricebook

    input_file(path)
    if previous is not None:
        input_file(previous)
    return validate_pricebook(path, previous=previous)


def compiled(path: Path) -> CompiledPricebook:
    """The compiled pricebook, or its findings on stderr and the validator's exit code."""
    report = validated(path)
    if report.pricebook is None:
        from engine.pricebook.render import report_renderable

        console(stderr=True).print(report_renderable(report))
        raise typer.Exit(report.exit_code or EXIT_FINDINGS)
    return report.pricebook


@pricebook_app.command("validate")
def validate_cmd(
    file: FileArg,
    previous: Annotated[Path | None, typer.Option("--previous", help="The previous version's workbook.")] = None,
    output: FormatOption = OutputFormat.text,
    annotate: Annotated[
        Path | None, typer.Option("--annotate", help="Write a copy (.xlsx) with the findings marked.")
    ] = None,
) -> None:
    """Check a workbook and list every finding by sheet and cell.

    Exit code 0: no errors (warnings allowed). 1: errors. 2: the file cannot be read.

    Example: creditbook pricebook validate pricebooks/us/us-audiology-v1.xlsx --annotate checked.xlsx
    """
    import json

    if annotate is not None:
        output_file(annotate, inputs=[file])
    report = validated(file, previous)
    if output is OutputFormat.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        from engine.pricebook.render import report_renderable

        console().print(report_renderable(report))
    if annotate is not None:
        if report.unreadable:
            typer.echo(f"Not annotated: {shown(file)} cannot be read safely.", err=True)
        else:
            from engine.pricebook.annotate import annotate_workbook

            with replacing(annotate) as partial:
                annotate_workbook(file, report.findings, partial)
            typer.echo(f"Annotated copy written to {annotate}", err=True)
    raise typer.Exit(report.exit_code)


@pricebook_app.command("compile")
def compile_cmd(
    file: FileArg,
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Write the JSON to this file (default: standard output).")
    ] = None,
) -> None:
    """Compile a workbook to canonical JSON (what the engine prices with) and give its semantic hash.

    Without -o the JSON goes to standard output and the label and hash to standard error.
    """
    if out is not None:
        output_file(out, suffix=".json", inputs=[file])
    pricebook = compiled(file)
    text = pricebook.canonical_json() + "\n"
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        typer.echo(f"{pricebook.label}: semantic hash {pricebook.semantic_hash}", err=True)
        return
    with replacing(out) as partial:
        partial.write_text(text, encoding="utf-8")
    typer.echo(f"{pricebook.label} → {out}\nsemantic hash {pricebook.semantic_hash}")


@pricebook_app.command("diff")
def diff_cmd(
    old: Annotated[Path, typer.Argument(help="The older workbook.", show_default=False)],
    new: Annotated[
        Path, typer.Argument(help="The newer workbook (a draft with findings is diffed too).", show_default=False)
    ],
    output: FormatOption = OutputFormat.text,
) -> None:
    """Show what changed between two versions, by sheet and rule_id (cosmetic edits show nothing),
    then each side's findings. Exit code 0: both valid; 1: a side has errors; 2: a side cannot be read."""
    import json

    from engine.pricebook.diff import diff_pricebooks

    reports = validated(old), validated(new)
    for report in reports:
        if report.unreadable:
            from engine.pricebook.render import report_renderable

            console(stderr=True).print(report_renderable(report))
            raise typer.Exit(report.exit_code)
    result = diff_pricebooks(*reports)
    if output is OutputFormat.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        for line in result.lines():
            print(_escaped(line))
    raise typer.Exit(max(report.exit_code for report in reports))


@pricebook_app.command("dump")
def dump_cmd(file: FileArg) -> None:
    """Print a stable text form of a workbook (also used by `git diff`, see README)."""
    from engine.pricebook.dump import dump_lines

    for line in dump_lines(input_file(file)):
        print(_escaped(line))


@pricebook_app.command("template")
def template_cmd(
    out: Annotated[Path, typer.Argument(help="Where to write the empty workbook (.xlsx).", show_default=False)],
    market: Annotated[Market, typer.Option("--market", help="us or in.")] = Market.us,
) -> None:
    """Write an empty, fully formatted pricebook workbook for a market."""
    from engine.pricebook.template import write_workbook

    output_file(out)
    with replacing(out) as partial:
        write_workbook(partial, market.value.upper())
    typer.echo(f"Empty {market.value.upper()} pricebook written to {out}")


@pricebook_app.command("reformat")
def reformat_cmd(
    file: FileArg,
    out: Annotated[Path, typer.Argument(help="Where to write the reformatted workbook (.xlsx).", show_default=False)],
) -> None:
    """Copy a workbook's content into a fresh template (restores dropdowns, formats, comments)."""
    from engine.pricebook.reformat import reformat_workbook
    from engine.pricebook.safety import UnreadableWorkbook

    input_file(file)
    output_file(out, inputs=[file])
    try:
        with replacing(out) as partial:
            reformat_workbook(file, partial)
    except UnreadableWorkbook as exc:
        raise CliError(f"{shown(file)} cannot be read: " + "; ".join(f.message for f in exc.findings)) from exc
    typer.echo(f"Reformatted copy written to {out}")


@pricebook_app.command("summary")
def summary_cmd(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Workbooks (default: the shipped pricebooks).", show_default=False)
    ] = None,
) -> None:
    """Validate and summarise pricebooks: versions, hashes, tiers, packages, lead prices, promotions."""
    from engine.pricebook.render import summary_renderables

    paths = files or sorted(SHIPPED.glob("*/*.xlsx"))
    for path in paths:
        input_file(path)
    out = console()
    worst = EXIT_OK
    for path in paths:
        report = validated(path)
        worst = max(worst, report.exit_code)
        for renderable in summary_renderables(report):
            out.print(renderable)
        out.rule()
    raise typer.Exit(worst)


def _count(help_text: str, high: int = 10**9) -> Any:
    return typer.Option(help=help_text, min=0, max=high)


@app.command("quote")
def quote_cmd(  # noqa: PLR0913  typer reads each parameter as one command-line option
    pricebooks: Annotated[
        list[Path],
        typer.Argument(
            help="Pricebook workbook(s); with several versions the date picks the one in force.", show_default=False
        ),
    ],
    product: Annotated[str, typer.Option(help="sms, voice, lead_chat or lead_call.")],
    units: Annotated[int | None, _count("SMS segments or voice minutes, already counted.")] = None,
    body: Annotated[str | None, typer.Option(help="SMS body sent to every recipient.")] = None,
    recipients: Annotated[int | None, _count("Recipients of the SMS body or voice campaign.", 10**7)] = None,
    seconds: Annotated[
        float | None, typer.Option(help="Expected seconds per call (voice campaign).", min=0, max=86_400)
    ] = None,
    call: Annotated[
        list[str] | None, typer.Option(help="A call record: SECONDS or SECONDS:OUTCOME (repeat the option).")
    ] = None,
    number_type: Annotated[str | None, typer.Option(help="Sender type (sms) or caller ID (voice).")] = None,
    smart_encoding: Annotated[bool, typer.Option(help="Replace look-alike characters before counting.")] = False,
    specialty: Annotated[str | None, typer.Option(help="Lead specialty.")] = None,
    city: Annotated[str | None, typer.Option(help="Lead city.")] = None,
    package_price: Annotated[str | None, typer.Option(help="Treatment package price (currency).")] = None,
    quantity: Annotated[int, _count("Number of leads.", 10**6)] = 1,
    plan: Annotated[list[str] | None, typer.Option(help="PAYG or a package code (repeat for several).")] = None,
    bundle: Annotated[bool, typer.Option(help="The clinic holds the SMS + voice bundle.")] = False,
    used: Annotated[int, _count("Units of this product already used in the current term.", 10**12)] = 0,
    balance: Annotated[
        int | None,
        typer.Option(help="Balance in credits: show what it still buys.", min=-(10**15), max=10**15),
    ] = None,
    at: Annotated[When | None, when_option(f"When: {WHEN_HELP}; in the pricebook's time zone (default: now).")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Print the trace: rules, tiers, rounding.")] = False,
    output: FormatOption = OutputFormat.text,
) -> None:
    """Price a request: an SMS campaign, a voice campaign or leads.

    Examples:
      creditbook quote pricebooks/us/us-audiology-v1.xlsx --product sms --units 600 --used 400 --explain
      creditbook quote pricebooks/in/*.xlsx --product lead_call --specialty dermatology --city Mumbai
        --package-price 15000 --explain
    """
    import math

    from engine.pricing.quote import quote
    from engine.pricing.requests import QuoteError

    if seconds is not None and not math.isfinite(seconds):
        raise typer.BadParameter(f"{seconds} is not a number of seconds", param_hint="'--seconds'")
    for path in pricebooks:
        input_file(path)
    loaded = [compiled(path) for path in pricebooks]
    when = (at or When("now")).at(loaded[0].meta.timezone)
    request: dict[str, object] = {"product": product}
    if product in ("lead_chat", "lead_call"):
        request.update(
            specialty=specialty,
            city=city,
            quantity=quantity,
            package_price=None if package_price is None else _bounded("--package-price", package_price, 10**12),
        )
    else:
        usage = _UsageOptions(units, body, recipients, seconds, call, number_type, smart_encoding)
        request.update(usage.request(product))
    context = {
        "at": when,
        "plan": tuple(plan or ["PAYG"]),
        "bundle": bundle,
        "term_usage": {product: used},
        "balance": balance,
    }
    try:
        result = quote(loaded, request, context)
    except QuoteError as exc:
        raise CliError(f"cannot quote: {exc}", EXIT_FINDINGS) from exc
    if output is OutputFormat.json:
        print(result.model_dump_json(indent=2))
        return
    if explain:
        print(result.explain())
    else:
        print(f"{result.summary} → {result.format()}")
        for warning in result.warnings:
            print(f"  warning: {warning}")


@dataclass(frozen=True)
class _UsageOptions:
    """The quote command's options for SMS and voice: counted units, or a campaign to count."""

    units: int | None
    body: str | None
    recipients: int | None
    seconds: float | None
    call: list[str] | None
    number_type: str | None
    smart_encoding: bool

    def request(self, product: str) -> dict[str, object]:
        """The request fields these options give for `product` (sms or voice; another product
        gets only what it names, and the quote engine names what is missing)."""
        fields: dict[str, object] = {}
        if self.units is not None:
            return {"units": self.units, "number_type": self.number_type}
        if product == "sms":
            fields.update(body=self.body, recipients=self.recipients, smart_encoding=self.smart_encoding)
        elif product == "voice" and self.call:
            fields["calls"] = [_call_record(item) for item in self.call]
        elif product == "voice":
            fields.update(recipients=self.recipients, expected_seconds=self.seconds)
        else:
            return fields
        if self.number_type:
            fields["number_type"] = self.number_type
        return fields


def _call_record(item: str) -> dict[str, str]:
    """A --call option (SECONDS or SECONDS:OUTCOME) as a call record."""
    duration, _, outcome = item.partition(":")
    return {"duration_s": _bounded("--call", duration, 86_400), "outcome": outcome or "completed"}


def _bounded(option: str, text: str, largest: int) -> str:
    """A number typed for the quote engine, refused here only when it is beyond `largest` (or not
    finite): whether it is a valid amount is the engine's call, absurd magnitudes are bad usage."""
    from decimal import Decimal, InvalidOperation

    cleaned = text.replace(",", "").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return cleaned  # not a number: the engine names the field
    if not value.is_finite() or abs(value) > largest:
        raise typer.BadParameter(
            f"{shown(text, 40)} is not a number between -{largest:,} and {largest:,}", param_hint=f"'{option}'"
        )
    return cleaned


def main() -> None:
    app()


if __name__ == "__main__":
    main()
