"""Hostile and wrong files: each is refused before any parser sees it, with a finding that says why,
and exit code 2. Files are crafted here from the shipped workbook so each attack is one visible
change to a real xlsx."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook

from engine import validate_pricebook
from engine.pricebook.safety import Limits, UnreadableWorkbook, preflight
from tests.support.paths import US_V1

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(f'<!ENTITY lol{i} "{"&lol{}; ".format(i - 1 if i > 1 else "") * 10}">'.encode() for i in range(1, 10))
    + b']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
    b"</sheetData></worksheet>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets/>&xxe;</workbook>'
)


def rewrite(
    source: Path, target: Path, change: Callable[[str, bytes], bytes | None], extra: dict[str, bytes] | None = None
) -> Path:
    """Copy an xlsx part by part; `change` may replace a part's bytes or drop it (None)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = change(info.filename, src.read(info))
            if data is not None:
                dst.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
    return target


def first_sheet(name: str) -> bool:
    return name == "xl/worksheets/sheet2.xml"


def _billion_laughs(tmp: Path) -> Path:
    return rewrite(US_V1, tmp / "lol.xlsx", lambda n, d: BILLION_LAUGHS if first_sheet(n) else d)


def _xxe(tmp: Path) -> Path:
    return rewrite(US_V1, tmp / "xxe.xlsx", lambda n, d: XXE if n == "xl/workbook.xml" else d)


def _utf16_entity(tmp: Path) -> Path:
    doc = BILLION_LAUGHS.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    return rewrite(US_V1, tmp / "utf16.xlsx", lambda n, d: doc.encode("utf-16") if first_sheet(n) else d)


def _zip_bomb(tmp: Path) -> Path:
    padding = b"<!-- " + b" " * (64 * 1024 * 1024) + b" -->"
    return rewrite(
        US_V1,
        tmp / "bomb.xlsx",
        lambda n, d: d.replace(b"<sheetData>", padding + b"<sheetData>") if first_sheet(n) else d,
    )


def _macro(tmp: Path) -> Path:
    return rewrite(US_V1, tmp / "macro.xlsx", lambda n, d: d, {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0fake vba"})


def _macro_content_type(tmp: Path) -> Path:
    def change(name: str, data: bytes) -> bytes:
        if name == "[Content_Types].xml":
            return data.replace(b"spreadsheetml.sheet.main+xml", b"sheet.macroEnabled.main+xml")
        return data

    return rewrite(US_V1, tmp / "macro-type.xlsm", change)


def _external_link(tmp: Path) -> Path:
    return rewrite(
        US_V1, tmp / "links.xlsx", lambda n, d: d, {"xl/externalLinks/externalLink1.xml": b"<externalLink/>"}
    )


def _text_file(tmp: Path) -> Path:
    path = tmp / "pricebook.csv"
    path.write_text("rule_id,product\nSMS-1,sms\n")
    return path


def _old_xls(tmp: Path) -> Path:
    path = tmp / "pricebook.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    return path


def _zip_not_xlsx(tmp: Path) -> Path:
    path = tmp / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    return path


def _truncated(tmp: Path) -> Path:
    path = tmp / "truncated.xlsx"
    path.write_bytes(US_V1.read_bytes()[:5000])
    return path


HOSTILE = [
    ("billion laughs", _billion_laughs, "F03", "<!DOCTYPE"),
    ("XXE in the workbook part", _xxe, "F03", "entities"),
    ("entities in a UTF-16 part", _utf16_entity, "F03", "entities"),
    ("zip bomb", _zip_bomb, "F02", "zip bomb"),
    ("macro part", _macro, "F01", "macros"),
    ("macro-enabled content type", _macro_content_type, "F01", "macros"),
    ("external links", _external_link, "F01", "external links"),
    ("a CSV file", _text_file, "F01", "CSV file has no sheets"),
    ("an old .xls file", _old_xls, "F01", ".xls"),
    ("a zip that is not a workbook", _zip_not_xlsx, "F01", "not an Excel workbook"),
    ("a truncated file", _truncated, "F01", "not an Excel workbook"),
]


@pytest.mark.parametrize(("name", "make", "code", "says"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_or_wrong_file_is_refused_with_exit_code_2(
    name: str, make: Callable[[Path], Path], code: str, says: str, tmp_path: Path
) -> None:
    path = make(tmp_path)
    report = validate_pricebook(path)
    assert report.unreadable and report.exit_code == 2
    assert report.pricebook is None
    finding = report.findings[0]
    assert finding.code == code
    assert says in finding.message + " " + finding.hint


def test_zip_bomb_is_caught_by_counting_inflated_bytes_not_declared_sizes(tmp_path: Path) -> None:
    """A total limit is enforced on bytes actually inflated (a lying header does not help)."""
    path = _zip_bomb(tmp_path)
    with pytest.raises(UnreadableWorkbook) as caught:
        preflight(path, Limits(max_total_bytes=8 * 1024 * 1024, max_ratio=10_000))
    assert caught.value.findings[0].code == "F02"
    assert "more than 8 MB" in caught.value.findings[0].message


def test_shipped_workbook_passes_preflight_with_default_limits() -> None:
    package = preflight(US_V1)
    assert "xl/workbook.xml" in package.parts
    assert any(name.startswith("xl/worksheets/") for name in package.parts)


def test_defusedxml_makes_openpyxl_refuse_entities_too(tmp_path: Path) -> None:
    """Defence in depth: paths that open workbooks with openpyxl (annotate, reformat) are protected
    by defusedxml even if the pre-flight were bypassed."""
    import openpyxl.xml
    from defusedxml import EntitiesForbidden

    assert openpyxl.xml.DEFUSEDXML is True
    with pytest.raises(ValueError) as caught:
        load_workbook(_billion_laughs(tmp_path))
    assert isinstance(caught.value.__cause__ or caught.value.__context__, EntitiesForbidden)
