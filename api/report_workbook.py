"""The report as an Excel workbook (.xlsx: Office Open XML, a zip of XML parts) whose rows
PostgreSQL writes: each row of the sheet is one line of a COPY (Formatter.sheet_select), put
into the zip as it comes, so a million rows cost neither a Python object each nor memory.

Parts: the package's content types and relationships, the workbook (one sheet per 1,048,575
rows: Excel's limit is 1,048,576 with the heading), one style sheet (date cells, the heading's
bold white on blue) and the sheets (right to left in Persian, the heading frozen, widths).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import IO

from api.report_export import TIME_COLUMNS, Formatter, xml_text
from projections.call_report import COLUMNS

ROWS_PER_SHEET = 1_048_575
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"

STYLES = (
    f'{HEAD}<styleSheet xmlns="{MAIN}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><color rgb="FFFFFFFF"/><name val="Calibri"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FF0B5CAD"/></patternFill></fill>'
    "</fills>"
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
HEADING_STYLE = 2  # DATE_STYLE (1) is Formatter.sheet_select's


def write_workbook(out: IO[bytes], formatter: Formatter, rows: Iterator[bytes]) -> int:
    """Write the workbook to `out` from `rows`: the bytes of a COPY of sheet rows, one line
    each, in chunks that need not end on a line. Returns the number of sheets."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        sheets = 0
        left = 0
        sheet: IO[bytes] | None = None
        for chunk in rows:
            while chunk:
                if sheet is None or left == 0:
                    if sheet is not None:
                        _end_sheet(sheet)
                    sheets += 1
                    sheet = book.open(f"xl/worksheets/sheet{sheets}.xml", "w")
                    sheet.write(_sheet_start(formatter).encode())
                    left = ROWS_PER_SHEET
                lines = chunk.count(b"\n")
                if lines < left:
                    sheet.write(chunk)
                    left -= lines
                    break
                cut = _after_line(chunk, left)
                sheet.write(chunk[:cut])
                left, chunk = 0, chunk[cut:]
        if sheet is None:  # no rows: the heading alone
            sheets = 1
            sheet = book.open("xl/worksheets/sheet1.xml", "w")
            sheet.write(_sheet_start(formatter).encode())
        _end_sheet(sheet)
        for name, text in _package(formatter, sheets).items():
            book.writestr(name, text)
    return sheets


def _after_line(chunk: bytes, n: int) -> int:
    """The offset just after the n-th line feed of `chunk`."""
    at = -1
    for _ in range(n):
        at = chunk.index(b"\n", at + 1)
    return at + 1


def _end_sheet(sheet: IO[bytes]) -> None:
    sheet.write(b"</sheetData></worksheet>")
    sheet.close()


def _sheet_start(formatter: Formatter) -> str:
    right_to_left = ' rightToLeft="1"' if formatter.persian else ""
    headings = formatter.headings()
    widths = "".join(
        f'<col min="{i}" max="{i}" width="{_width(column, heading)}" customWidth="1"/>'
        for i, (column, heading) in enumerate(zip(COLUMNS, headings, strict=True), start=1)
    )
    cells = "".join(
        f'<c t="inlineStr" s="{HEADING_STYLE}"><is><t>{xml_text(h)}</t></is></c>' for h in headings
    )
    return (
        f'{HEAD}<worksheet xmlns="{MAIN}"><sheetViews>'
        f'<sheetView workbookViewId="0"{right_to_left}>'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        f"</sheetView></sheetViews><cols>{widths}</cols><sheetData><row>{cells}</row>\n"
    )


def _width(column: str, heading: str) -> int:
    wide = 38 if column.endswith("id") else 21 if column in TIME_COLUMNS else 16
    return max(wide, len(heading) + 2)


def _package(formatter: Formatter, sheets: int) -> dict[str, str]:
    """Every part but the sheets: content types, relationships, workbook, styles."""
    numbers = range(1, sheets + 1)
    names = [formatter.sheet_name if n == 1 else f"{formatter.sheet_name} ({n})" for n in numbers]
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{SHEET_TYPE}"/>'
        for n in numbers
    )
    officedocument = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    return {
        "[Content_Types].xml": (
            f'{HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels"'
            ' ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml"'
            f' ContentType="{officedocument}.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml"'
            f' ContentType="{officedocument}.styles+xml"/>{overrides}</Types>'
        ),
        "_rels/.rels": (
            f'{HEAD}<Relationships xmlns="{PACKAGE_RELATIONSHIPS}">'
            f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/officeDocument"'
            ' Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'{HEAD}<workbook xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}"><sheets>'
            + "".join(
                f'<sheet name="{xml_text(name)}" sheetId="{n}" r:id="rId{n}"/>'
                for n, name in zip(numbers, names, strict=True)
            )
            + "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{HEAD}<Relationships xmlns="{PACKAGE_RELATIONSHIPS}">'
            + "".join(
                f'<Relationship Id="rId{n}" Type="{RELATIONSHIPS}/worksheet"'
                f' Target="worksheets/sheet{n}.xml"/>'
                for n in numbers
            )
            + f'<Relationship Id="rIdStyles" Type="{RELATIONSHIPS}/styles"'
            ' Target="styles.xml"/></Relationships>'
        ),
        "xl/styles.xml": STYLES,
    }
