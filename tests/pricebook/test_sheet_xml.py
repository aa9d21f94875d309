"""The worksheet XML scans: `extent` never says a sheet reaches less far than python-calamine would
allocate (whatever the <dimension> claims), and `marks` finds formulas, error values and hidden
rows and columns however the XML is written (prefixes, comments, CDATA, cells without addresses)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.pricebook.findings import column_letter
from engine.pricebook.sheet_xml import Extent, _walk_extent, attribute, extent, marks, without_noise

CELLS = st.lists(
    st.tuples(st.integers(min_value=1, max_value=400), st.integers(min_value=1, max_value=800)), max_size=30
)


def sheet(cells: list[tuple[int, int]], claim: tuple[int, int] | None, extra: bytes = b"") -> bytes:
    rows: dict[int, list[int]] = {}
    for row, col in cells:
        rows.setdefault(row, []).append(col)
    body = b"".join(
        b'<row r="%d">' % row
        + b"".join(b'<c r="%s%d"><v>1</v></c>' % (column_letter(col).encode(), row) for col in sorted(set(cols)))
        + b"</row>"
        for row, cols in sorted(rows.items())
    )
    dimension = b'<dimension ref="A1:%s%d"/>' % (column_letter(claim[1]).encode(), claim[0]) if claim else b""
    return b"<worksheet>" + dimension + b"<sheetData>" + body + extra + b"</sheetData></worksheet>"


@settings(max_examples=300, deadline=None)
@given(
    cells=CELLS,
    claim=st.one_of(
        st.none(), st.tuples(st.integers(min_value=1, max_value=500), st.integers(min_value=1, max_value=900))
    ),
    extra=st.sampled_from(
        [b"", b"<row><c><v>1</v></c><c/></row>", b'<!-- <c r="ZZ9999"/> -->', b'<x:c r="B7"/>', b'<c r="b9"/>']
    ),
)
def test_extent_never_reaches_less_far_than_the_cells(
    cells: list[tuple[int, int]], claim: tuple[int, int] | None, extra: bytes
) -> None:
    xml = sheet(cells, claim, extra)
    exact = _walk_extent(without_noise(xml))
    found = extent(xml)
    assert found.rows >= exact.rows and found.columns >= exact.columns
    if claim is not None and not extra and cells:
        covered = all(row <= claim[0] and col <= claim[1] for row, col in cells)
        assert found == (Extent(*claim) if covered else exact)


def test_a_lying_dimension_costs_the_exact_walk_not_a_wrong_answer() -> None:
    xml = sheet([(1, 1), (3, 2)], (3, 2), b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')
    assert extent(xml) == Extent(1_048_576, 16_384)
    assert extent(sheet([(2, 2)], (99, 26))) == Extent(99, 26)


def test_cells_without_an_address_sit_after_the_previous_cell_of_their_row() -> None:
    xml = b'<sheetData><row r="5"><c r="C5"/><c/><c><v>1</v></c></row><row><c/></row></sheetData>'
    assert extent(xml) == Extent(6, 5)


def test_marks_reads_formulas_errors_and_hidden_rows_however_they_are_written() -> None:
    xml = (
        b'<x:worksheet xmlns:x="main"><x:cols><x:col min="2" max="3" hidden="true"/></x:cols><x:sheetData>'
        b'<!-- <x:c r="A1"><x:f>IGNORED()</x:f></x:c> -->'
        b'<x:row r="2" hidden="1"><x:c r="B2"><x:f>SUM(A1:A3)&amp;"x"</x:f><x:v>3</x:v></x:c>'
        b"<x:c r='C2' t='e'><x:v>#REF!</x:v></x:c><x:c><x:f t=\"shared\" si=\"0\"/></x:c></x:row>"
        b'<![CDATA[<c r="Z9"><f>NOPE</f></c>]]>'
        b"</x:sheetData></x:worksheet>"
    )
    found = marks(xml)
    assert found.formulas == {(2, 2): '=SUM(A1:A3)&"x"', (2, 4): "(shared formula)"}
    assert found.errors == {(2, 3): "#REF!"}
    assert found.hidden_rows == {2} and found.hidden_cols == {2, 3}


def test_marks_ignores_attributes_that_only_look_hidden() -> None:
    xml = (
        b'<row r="2" customHidden="1" xhidden="1"><c r="A2" t="str"><v>x</v></c></row><col min="9" max="2" hidden="1"/>'
    )
    assert marks(xml) == marks(b"")


def test_attribute_lookup_needs_a_whole_name_and_a_quoted_value() -> None:
    assert attribute(b' sqref="A1" r="B2"', b"r") == b"B2"
    assert attribute(b" r='C3'", b"r") == b"C3"
    assert attribute(b' r = "D4"', b"r") == b"D4"
    assert attribute(b' r="unclosed', b"r") is None
    assert attribute(b" r r r", b"r") is None
