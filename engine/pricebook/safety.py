"""Zip pre-flight: decide whether a file is safe to hand to an xlsx parser at all.

The path must name a regular file of bounded size: a folder, a FIFO (which would block the read
forever) or a device such as /dev/zero (which never ends) is refused from its metadata before any
byte is read, and the file is then read once, into memory, so that every later reader sees the
same bytes (nothing can swap the file between the checks and the parse).

No xlsx reader guards against zip bombs, and entity tricks live inside the XML parts, so before
any parser sees the file we open it as a zip ourselves and, part by part, inflate it under hard
limits while looking for ``<!DOCTYPE`` and ``<!ENTITY``. We count the bytes we actually inflate
rather than trusting the sizes the zip declares, since a bomb can lie about those. Macro-enabled
files and files with external links or data connections are refused outright: a pricebook is
plain data.

The parts the reader needs next (workbook, relationships, sheets, tables) are kept in memory so
they are inflated only once.
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import CreditbookError
from engine.pricebook.findings import Finding, Severity


@dataclass(frozen=True)
class Limits:
    """Hard limits for an uploaded workbook. A 100,000-row pricebook unpacks to about 30 MB."""

    max_file_bytes: int = 64 * 1024 * 1024  # the file itself, before inflating
    max_total_bytes: int = 256 * 1024 * 1024
    max_entries: int = 10_000
    max_ratio: int = 200  # inflated:deflated, for parts above ratio_floor_bytes
    ratio_floor_bytes: int = 1024 * 1024
    #: cells the sheets' rectangles from A1 may span in all (python-calamine allocates each one, and
    #: every filled one becomes a Python object): 2,000,000 is two and a half times the benchmark's
    #: 100,000-row lead table (800,000 cells, about 250 MB to validate)
    max_cells: int = 2_000_000


DEFAULT_LIMITS = Limits()

_BINARY_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".emf", ".wmf", ".tif", ".tiff", ".bin")
_ENTITY = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CHUNK = 1 << 20
#: what the zipfile module raises on a damaged archive or member (it has no single error type)
DAMAGED_ZIP = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    OverflowError,
    OSError,
    struct.error,
)


class UnreadableWorkbook(CreditbookError):
    """The file cannot be read as a pricebook workbook; `findings` say why (exit code 2)."""

    code = "pricebook_unreadable"
    status = 422

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        super().__init__("; ".join(f.message for f in findings))

    @classmethod
    def because(
        cls, code: str, message: str, hint: str, *, sheet: str = "", value: object = None
    ) -> UnreadableWorkbook:
        """Refused for one reason: an error finding with this code, message and hint."""
        return cls([Finding(code=code, severity=Severity.ERROR, message=message, hint=hint, sheet=sheet, value=value)])


@dataclass
class Package:
    """The file's bytes and the inflated XML parts of it that the reader uses."""

    data: bytes = b""
    parts: dict[str, bytes] = field(default_factory=dict)
    names: tuple[str, ...] = ()

    def open(self) -> io.BytesIO:
        """The file again, for a parser that reads it whole (calamine, openpyxl)."""
        return io.BytesIO(self.data)


def _finding(code: str, message: str, hint: str, value: object = None) -> Finding:
    return Finding(code=code, severity=Severity.ERROR, message=message, hint=hint, value=value)


def _not_xlsx(path: Path, head: bytes) -> UnreadableWorkbook:
    if head.startswith(_OLE_MAGIC):
        hint = (
            "This is an old .xls file or a password-protected workbook. Remove the password and use "
            "File > Save As > Excel Workbook (.xlsx)."
        )
    elif head[:5].lower() in (b"<?xml", b"<html") or head[:1] in (b"<",):
        hint = "This is an XML or HTML file. Open it in Excel and save it as Excel Workbook (.xlsx)."
    elif path.suffix.lower() in (".csv", ".txt"):
        hint = "A CSV file has no sheets. Use the pricebook template: creditbook pricebook template OUT.xlsx."
    else:
        hint = "Save the pricebook from Excel as Excel Workbook (.xlsx)."
    return UnreadableWorkbook([_finding("F01", f"{path.name} is not an Excel workbook (.xlsx).", hint)])


def _keep(name: str) -> bool:
    """Parts the reader parses later."""
    return (
        name in ("xl/workbook.xml", "[Content_Types].xml")
        or (name.startswith("xl/worksheets/") and name.endswith(".xml"))
        or (name.startswith("xl/tables/") and name.endswith(".xml"))
        or name.endswith(".rels")
    )


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> tuple[bytes, int, bool]:
    """Inflate one part, stopping once `budget` bytes are exceeded. Returns (text-if-kept, size, entity)."""
    keep = _keep(info.filename)
    scan = not info.filename.lower().endswith(_BINARY_SUFFIXES)
    out: list[bytes] = []
    size = 0
    found_entity = False
    tail = b""
    utf16: bool | None = None
    with archive.open(info) as stream:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > budget:
                return b"", size, found_entity
            if scan:
                if utf16 is None:
                    utf16 = chunk[:2] in (b"\xff\xfe", b"\xfe\xff") or chunk[1:2] == b"\x00"
                text = chunk
                if utf16:
                    text = chunk.decode("utf-16", errors="ignore").encode("utf-8", errors="ignore")
                window = tail + text
                if _ENTITY.search(window):
                    found_entity = True
                tail = window[-32:]
            if keep:
                out.append(chunk)
    return b"".join(out), size, found_entity


def _cannot_open(
    path: Path, why: str, hint: str = "Check the file name and that you may read it."
) -> UnreadableWorkbook:
    return UnreadableWorkbook([_finding("F01", f"Cannot open {path}: {why}.", hint)])


def read_bytes(path: Path, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The bytes of a regular file of at most limits.max_file_bytes, or UnreadableWorkbook.

    The file's type and size are checked from its metadata first, then again on the open
    descriptor (opened without blocking, so a path swapped for a FIFO in between cannot hang us)."""

    def check(mode: int, size: int) -> None:
        if stat.S_ISDIR(mode):
            raise _cannot_open(path, "it is a folder", "Give the path of a workbook file (.xlsx).")
        if not stat.S_ISREG(mode):
            raise _cannot_open(
                path,
                "it is not a regular file (a pipe, a socket or a device)",
                "Give the path of a workbook file (.xlsx).",
            )
        if size > limits.max_file_bytes:
            raise UnreadableWorkbook(
                [
                    _finding(
                        "F02",
                        f"{path.name} is {size / 1024 / 1024:,.1f} MB; a pricebook workbook is at most "
                        f"{limits.max_file_bytes // (1024 * 1024)} MB.",
                        "Check you picked the right file.",
                        size,
                    )
                ]
            )

    try:
        info = os.stat(path)
        check(info.st_mode, info.st_size)
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as handle:
            opened = os.fstat(handle.fileno())
            check(opened.st_mode, opened.st_size)
            return handle.read(limits.max_file_bytes + 1)
    except UnreadableWorkbook:
        raise
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _cannot_open(path, reason[0].lower() + reason[1:] if reason else "unknown reason") from exc


def preflight(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> Package:
    """Check the file and its container and return the parts the reader needs, or raise
    UnreadableWorkbook."""
    path = Path(path)
    data = read_bytes(path, limits)
    if len(data) > limits.max_file_bytes:
        raise _cannot_open(path, "it grew while it was being read", "Copy the workbook somewhere stable and try again.")
    head = data[:8]
    stream = io.BytesIO(data)
    if not zipfile.is_zipfile(stream):
        raise _not_xlsx(path, head)
    try:
        archive = zipfile.ZipFile(stream)
    except DAMAGED_ZIP as exc:
        raise _not_xlsx(path, head) from exc
    with archive:
        infos = archive.infolist()
        names = tuple(info.filename for info in infos)
        findings = _container_findings(path, names, limits, len(infos))
        if findings:
            raise UnreadableWorkbook(findings)
        package = Package(data=data, names=names)
        total = 0
        for info in infos:
            if info.is_dir():
                continue
            try:
                data, size, entity = _inflate(archive, info, limits.max_total_bytes - total)
            except DAMAGED_ZIP as exc:
                raise UnreadableWorkbook(
                    [
                        _finding(
                            "F01",
                            f"Part {info.filename} of the file is damaged ({exc}).",
                            "Open the file in Excel and save it again.",
                        )
                    ]
                ) from exc
            total += size
            problem = _part_problem(info, size, total, entity, limits)
            if problem is not None:
                raise UnreadableWorkbook([problem])
            if data:
                package.parts[info.filename] = data
    if "xl/workbook.xml" not in package.parts:
        raise _not_xlsx(path, head)
    if b"macroEnabled" in package.parts.get("[Content_Types].xml", b""):
        raise UnreadableWorkbook([_macro_finding()])
    return package


def _part_problem(info: zipfile.ZipInfo, size: int, total: int, entity: bool, limits: Limits) -> Finding | None:
    """Why an inflated part refuses the file: the parts so far unpack to too much, this one
    inflates far beyond a real workbook's ratio, or it declares XML entities; None when none does."""
    if total > limits.max_total_bytes:
        return _finding(
            "F02",
            f"The file unpacks to more than {limits.max_total_bytes // (1024 * 1024)} MB "
            "(a zip bomb, or far more data than a pricebook holds).",
            "A pricebook is at most a few hundred thousand rows; check you uploaded the right file.",
            info.filename,
        )
    if size > limits.ratio_floor_bytes and info.compress_size and size / info.compress_size > limits.max_ratio:
        return _finding(
            "F02",
            f"Part {info.filename} inflates {size // info.compress_size}:1, more than the "
            f"{limits.max_ratio}:1 a real workbook reaches (zip bomb guard).",
            "Save the workbook again from Excel; if it is a real pricebook, ask a developer to raise the limit.",
            info.filename,
        )
    if entity:
        return _finding(
            "F03",
            f"Part {info.filename} declares XML entities (<!DOCTYPE or <!ENTITY>), which "
            "Excel never writes and which can be used to attack the reader.",
            "Do not edit the workbook's XML by hand; save it again from Excel.",
            info.filename,
        )
    return None


def _macro_finding() -> Finding:
    return _finding(
        "F01",
        "The workbook contains macros (VBA). Pricebooks must be plain data.",
        "Use File > Save As > Excel Workbook (.xlsx), not .xlsm.",
    )


def _container_findings(path: Path, names: tuple[str, ...], limits: Limits, entries: int) -> list[Finding]:
    lowered = [name.lower() for name in names]
    findings: list[Finding] = []
    if "[content_types].xml" not in lowered or "xl/workbook.xml" not in lowered:
        return [_not_xlsx(path, b"").findings[0]]
    if entries > limits.max_entries:
        findings.append(
            _finding(
                "F02",
                f"The file holds {entries:,} parts; a workbook holds a few dozen.",
                "Check you uploaded the right file.",
                entries,
            )
        )
    if any(name.endswith("vbaproject.bin") or name.startswith("xl/macrosheets/") for name in lowered):
        findings.append(_macro_finding())
    if any(name.startswith("xl/externallinks/") for name in lowered):
        findings.append(
            _finding(
                "F01",
                "The workbook links to other workbooks (external links).",
                "Data > Edit Links > Break Link, then save again.",
            )
        )
    if any(name in ("xl/connections.xml",) or name.startswith("xl/querytables/") for name in lowered):
        findings.append(
            _finding(
                "F01",
                "The workbook has data connections or queries.",
                "Data > Queries & Connections: remove them, then save again.",
            )
        )
    if any(name.startswith("xl/embeddings/") or name.startswith("xl/activex/") for name in lowered):
        findings.append(
            _finding(
                "F01",
                "The workbook has embedded objects or ActiveX controls.",
                "Delete the embedded objects, then save again.",
            )
        )
    return findings
