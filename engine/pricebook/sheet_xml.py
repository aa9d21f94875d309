"""Linear scans of a worksheet's XML: how far its cells reach, and what python-calamine does not
report (formulas, Excel error values, hidden rows and columns).

python-calamine allocates one slot for every cell of the rectangle from A1 to the farthest cell it
meets, so a 60 KB sheet with one stray cell at XFD1048576 asks it for half a terabyte (and a Rust
allocation failure aborts the whole process). `extent` measures that rectangle from the XML before
calamine sees it, so the reader can refuse it instead.

Every pattern here runs in time linear in the XML's size, whatever the XML holds: quantifiers are
possessive (they never give back what they matched), a tag's pattern cannot cross the next '<' or
'>', attributes are looked up inside one tag's text, and comments, CDATA sections and processing
instructions are cut out by position (str.find) before any tag is read. A sheet made of thousands of
unclosed tags inside comments therefore costs what its bytes cost, not their square.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from html import unescape

from engine.pricebook.findings import column_letter

#: Excel's grid: the last row and column any cell address can name
EXCEL_ROWS = 1_048_576
EXCEL_COLUMNS = 16_384

_DIMENSION = re.compile(
    rb'<(?:[A-Za-z_][\w.-]*+:)?+dimension\s++ref\s*+=\s*+"([A-Z]{1,3}+[0-9]{1,7}+)(?::([A-Z]{1,3}+[0-9]{1,7}+))?+"'
)
DIGITS, LETTERS = "0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# any start or end tag: '<', an optional '/', a (prefixed) name, then attributes up to '>'
_TAG = re.compile(rb"<(/?+)([A-Za-z_][\w.:-]*+)([^<>]*+)>")
# start tags of the elements `extent` follows, with their attribute text
_ROW_OR_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*+:)?+(row|c)(?=[\s/>])([^<>]*+)")
_PREFIXED_CELL = re.compile(rb"<[A-Za-z_][\w.-]*+:c[\s/>]")
_A1 = re.compile(r"\$?+([A-Za-z]++)\$?+([0-9]++)")
_NOISE = ((b"<!--", b"-->"), (b"<![CDATA[", b"]]>"), (b"<?", b"?>"))
#: what a row or column number past any sensible limit reads as
FAR = 10**12


def column_number(letters: str) -> int:
    """A → 1, Z → 26, AA → 27 (any length: the caller decides what is too far)."""
    number = 0
    for char in letters.upper():
        number = number * 26 + (ord(char) - 64)
    return number


def parse_ref(text: str) -> tuple[int, int] | None:
    """'B12' or '$B$12' → (12, 2); None for anything else. Not range checked: a row or column
    past FAR reads as FAR."""
    match = _A1.fullmatch(text.strip())
    if match is None:
        return None
    letters = match.group(1)
    return number(match.group(2)), column_number(letters) if len(letters) <= 8 else FAR


@functools.lru_cache(maxsize=16)
def _attribute_pattern(name: bytes) -> re.Pattern[bytes]:
    """`name` as a whole attribute name (after whitespace or at the start), then '=' and a quote."""
    return re.compile(rb"(?<![^\s])" + re.escape(name) + rb"\s*+=\s*+([\"'])")


def attribute(attrs: bytes, name: bytes) -> bytes | None:
    """The value of attribute `name` in one tag's attribute text (double or single quotes)."""
    found = _attribute_pattern(name).search(attrs)
    if found is None:
        return None
    end = attrs.find(found.group(1), found.end())
    return attrs[found.end() : end] if end >= 0 else None


def number(digits: bytes | str) -> int:
    """Digits as an int, capped at FAR (CPython refuses to convert very long digit strings, and
    anything that large is refused anyway)."""
    return int(digits) if len(digits) <= 12 else FAR


def _int(value: bytes | None) -> int | None:
    return number(value) if value is not None and value.isdigit() else None


def ascii_compatible(xml: bytes) -> bytes:
    """XML in UTF-16 re-encoded as UTF-8, so that the byte patterns below see its tags."""
    if xml[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in xml[:4]:
        return xml.decode("utf-16", "replace").encode("utf-8")
    return xml


def without_noise(xml: bytes) -> bytes:
    """The XML with comments, CDATA sections and processing instructions blanked out (positions
    kept, so nothing inside them reads as a tag). An unclosed one runs to the end. Each opener's
    next occurrence is searched again only once the scan has passed it, so this stays linear."""
    if not any(opener in xml for opener, _ in _NOISE):
        return xml
    out = bytearray(xml)
    upcoming = {opener: xml.find(opener) for opener, _ in _NOISE}
    position = 0
    while True:
        for opener, at in upcoming.items():
            if 0 <= at < position:
                upcoming[opener] = xml.find(opener, position)
        found = [(at, opener, closer) for opener, closer in _NOISE if (at := upcoming[opener]) >= 0]
        if not found:
            return bytes(out)
        start, opener, closer = min(found)
        end = xml.find(closer, start + len(opener))
        stop = len(xml) if end < 0 else end + len(closer)
        out[start:stop] = b" " * (stop - start)
        position = stop


@dataclass(frozen=True)
class Extent:
    """The rectangle from A1 to (rows, columns) that a sheet's cells span."""

    rows: int = 0
    columns: int = 0

    @property
    def cells(self) -> int:
        return self.rows * self.columns


def extent(xml: bytes) -> Extent:
    """How far a worksheet's cells reach, as python-calamine would place them (never less).

    Excel and openpyxl write every cell as <c r="A1" ...> and state the sheet's range in
    <dimension ref="A1:H100006"/>. When that holds, the claim is checked with one C-speed search
    for any cell address past it (a lie costs the exact walk below, never a wrong answer). Anything
    unusual (cells without an address, prefixes, comments, no dimension) takes the exact walk over
    row and cell tags, which also places cells written without an address where calamine does."""
    xml = ascii_compatible(xml)
    claimed = _claimed(xml)
    if claimed is not None and _plain_cells(xml) and not _beyond(claimed).search(xml):
        return Extent(*claimed)
    return _walk_extent(without_noise(xml))


def _claimed(xml: bytes) -> tuple[int, int] | None:
    """The (rows, columns) the <dimension> element states, if it states a plain range."""
    found = _DIMENSION.search(xml, 0, 4096) or _DIMENSION.search(xml)
    if found is None:
        return None
    place = parse_ref((found.group(2) or found.group(1)).decode())
    return place if place is not None and place[0] <= EXCEL_ROWS and place[1] <= EXCEL_COLUMNS else None


def _plain_cells(xml: bytes) -> bool:
    """Every cell tag is <c r="..."> with no prefix, and nothing can hide a tag (counts and
    substring tests only: C speed)."""
    return (
        xml.count(b"<c ") == xml.count(b'<c r="')
        and not any(odd in xml for odd in (b"<c>", b"<c/>", b"<!", b":c ", b":c>", b":c/>"))  # <! : comment, CDATA
        and xml.find(b"<?", 5) < 0
    )


def _greater(text: str, alphabet: str) -> list[str]:
    """Patterns for the strings of len(text) over `alphabet` that sort after `text`."""
    out = []
    for index, char in enumerate(text):
        bigger = alphabet[alphabet.index(char) + 1 :]
        if bigger:
            out.append(re.escape(text[:index]) + f"[{bigger}]" + f"[{alphabet}]" * (len(text) - index - 1))
    return out


@functools.lru_cache(maxsize=64)
def _beyond(claimed: tuple[int, int]) -> re.Pattern[bytes]:
    """A cell address past (rows, columns), or one that is not plain upper-case letters and digits."""
    rows, columns = str(claimed[0]), column_letter(claimed[1])
    row_above = "|".join([f"[0-9]{{{len(rows) + 1},}}", *_greater(rows, DIGITS)])
    column_above = "|".join([f"[A-Z]{{{len(columns) + 1},}}", *_greater(columns, LETTERS)])
    # the literal '<c r="' lets the search skip from cell to cell at C speed (_plain_cells made sure
    # every cell is written so)
    return re.compile(rf'<c r="(?:[A-Z]*+[^A-Z0-9"]|(?:{column_above})[0-9]|[A-Z]++(?:0|(?:{row_above})"))'.encode())


def _walk_extent(xml: bytes) -> Extent:
    row = column = max_row = max_column = 0
    for name, attrs in _ROW_OR_CELL.findall(xml):
        if name == b"row":
            given = _int(attribute(attrs, b"r"))
            row, column = (given if given is not None else row + 1), 0
            continue
        ref = attribute(attrs, b"r")
        place = parse_ref(ref.decode("latin-1")) if ref is not None else None
        row, column = place or (max(row, 1), column + 1)
        max_row, max_column = max(max_row, row), max(max_column, column)
    return Extent(max_row, max_column)


@dataclass
class Marks:
    """What a worksheet's XML says that its values do not: positions are 1-based (row, column)."""

    formulas: dict[tuple[int, int], str] = field(default_factory=dict)
    errors: dict[tuple[int, int], str] = field(default_factory=dict)
    hidden_rows: set[int] = field(default_factory=set)
    hidden_cols: set[int] = field(default_factory=set)


def _may_have_marks(xml: bytes) -> bool:
    """Cheap substring tests (C speed) for anything `marks` would find; a clean sheet stops here."""
    return any(
        mark in xml for mark in (b"hidden=", b't="e"', b"t='e'", b"<f>", b"<f ", b"<f/>", b":f>", b":f ", b":f/>")
    )


def marks(xml: bytes) -> Marks:
    """Formulas (with their text), Excel error values, hidden rows and hidden columns of a sheet."""
    if not _may_have_marks(xml):
        return Marks()
    reader = _MarksReader(without_noise(ascii_compatible(xml)))
    for match in _TAG.finditer(reader.xml):
        closing, qualified, attrs = match.groups()
        name = qualified.rpartition(b":")[2]
        if closing:
            reader.close(name, match.start())
        else:
            reader.open(name, attrs, match.end())
    return reader.found


@dataclass
class _MarksReader:
    """`marks`' walk over a sheet's tags: where it is (row, column, the open cell) and where the
    text of an open formula or error value starts."""

    xml: bytes
    found: Marks = field(default_factory=Marks)
    row: int = 0
    column: int = 0
    cell: tuple[int, int] | None = None
    cell_is_error: bool = False
    formula_at: int = -1
    value_at: int = -1

    def close(self, name: bytes, at: int) -> None:
        """A closing tag at byte `at`: a formula's or error value's text ends there."""
        if name == b"f" and self.formula_at >= 0 and self.cell is not None:
            text = unescape(self.xml[self.formula_at : at].decode("utf-8", "replace"))
            self.found.formulas[self.cell] = "=" + text if text else "(shared formula)"
            self.formula_at = -1
        elif name == b"v" and self.value_at >= 0 and self.cell is not None and self.cell_is_error:
            self.found.errors[self.cell] = unescape(self.xml[self.value_at : at].decode("utf-8", "replace"))[:40]
            self.value_at = -1
        elif name == b"c":
            self.cell = None

    def open(self, name: bytes, attrs: bytes, end: int) -> None:
        """An opening (or self-closing) tag whose text, if any, starts at byte `end`."""
        self_closing = attrs.endswith(b"/")
        if name == b"row":
            given = _int(attribute(attrs, b"r"))
            self.row, self.column = (given if given is not None else self.row + 1), 0
            if attribute(attrs, b"hidden") in (b"1", b"true") and 0 < self.row <= EXCEL_ROWS:
                self.found.hidden_rows.add(self.row)
        elif name == b"c":
            self._open_cell(attrs, self_closing)
        elif name == b"f" and self.cell is not None:
            if self_closing:
                self.found.formulas[self.cell] = "(shared formula)"
            else:
                self.formula_at = end
        elif name == b"v" and self.cell is not None and not self_closing:
            self.value_at = end
        elif name == b"col" and attribute(attrs, b"hidden") in (b"1", b"true"):
            low, high = _int(attribute(attrs, b"min")), _int(attribute(attrs, b"max"))
            if low is not None and high is not None and 0 < low <= high:
                self.found.hidden_cols.update(range(low, min(high, EXCEL_COLUMNS) + 1))

    def _open_cell(self, attrs: bytes, self_closing: bool) -> None:
        ref = attribute(attrs, b"r")
        place = parse_ref(ref.decode("latin-1")) if ref is not None else None
        cell = place or (max(self.row, 1), self.column + 1)
        self.column = cell[1]
        self.cell_is_error = attribute(attrs, b"t") == b"e"
        if self.cell_is_error:
            self.found.errors[cell] = "#ERROR"
        self.cell = None if self_closing else cell
