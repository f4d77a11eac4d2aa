"""Report downloads: CSV and Excel rows, Persian headings and status names, Jalali dates, and
cells that a spreadsheet would run as formulas neutralised.

PostgreSQL writes the rows (COPY: several times faster than rows formatted here, and no
Python object per row): each rule below is rendered as the SQL of its column, for the CSV
(Formatter.csv_select) and for the Excel sheet's XML (Formatter.sheet_select,
api/report_workbook.py)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any
from xml.sax.saxutils import escape

from core.networks import PERSIAN_NAMES
from projections.call_report import COLUMNS

PERSIAN_HEADINGS = {
    "id": "شناسه تماس",
    "service_id": "شناسه سرویس",
    "key_id": "شناسه کلید",
    "key_label": "نام کلید",
    "phone": "شماره تلفن",
    "status": "وضعیت",
    "failure_reason": "علت ناموفق",
    "attempt": "تلاش",
    "retry_of": "تکرار تماس",
    "code_length": "طول کد",
    "caller_prefix": "پیش‌شماره تماس‌گیرنده",
    "caller_number": "شماره تماس‌گیرنده",
    "created_at": "زمان درخواست",
    "dialed_at": "زمان شماره‌گیری",
    "delivered_at": "زمان تحویل",
    "expires_at": "زمان انقضای کد",
    "verified_at": "زمان تأیید",
    "expired_at": "زمان منقضی شدن",
    "verify_attempts": "تعداد تلاش تأیید",
    "cost": "هزینه (ریال)",
    "reference": "مرجع درخواست",
    "answered": "پاسخ داده شد",
    "test": "شماره‌ی آزمایشی",
    "channel": "کانال",
    "network": "شبکه",
}

PERSIAN_WORDS = {
    "queued": "در صف",
    "dialing": "در حال شماره‌گیری",
    "delivered": "زنگ خورد",
    "verified": "تأیید شده",
    "expired": "منقضی شده",
    "failed": "ناموفق",
    "rejected": "رد شده",
    "busy": "مشغول",
    "unreachable": "در دسترس نیست",
    "invalid_number": "شماره نامعتبر",
    "declined": "رد شده از سوی گیرنده",
    "carrier_error": "خطای اپراتور",
    "credit_limit_reached": "سقف بدهی",
    "rate_limited": "محدودیت تعداد",
    "retry_limit_reached": "سقف تلاش دوباره",
    "service_disabled": "سرویس غیرفعال",
    "fraud_suspected": "مشکوک به تقلب",
    "flash_call": "تماس کوتاه",
    "sms": "پیامک",
    **PERSIAN_NAMES,  # the networks
}

# A cell a spreadsheet would evaluate (=, +, -, @ ...) and that is not a number gets a leading
# apostrophe, so it is shown as text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


PHONE_COLUMNS = frozenset({"phone", "caller_prefix", "caller_number"})
TIME_COLUMNS = frozenset(
    {"created_at", "dialed_at", "delivered_at", "expires_at", "verified_at", "expired_at"}
)
WORDED_COLUMNS = frozenset({"status", "failure_reason", "channel", "network"})
# Text a customer wrote: the only cells that can start like a formula (phones are E.164
# numbers, words are ours, the rest are ids, numbers, times and a flag).
WRITTEN_COLUMNS = frozenset({"key_label", "reference"})
LEFT_TO_RIGHT = "\u200e"
# RFC 3339 in the transaction's zone (the account's), to the microsecond.
ISO_TIME = 'YYYY-MM-DD"T"HH24:MI:SS.USTZH:TZM'


def _literal(text: str) -> str:
    """A constant of ours as an SQL string literal (standard_conforming_strings)."""
    return "'" + text.replace("'", "''") + "'"


# The formula guard in SQL: a formula's first character, and not a number.
NEUTRALISED = (
    "CASE WHEN left({value}, 1) = ANY(ARRAY["
    + ", ".join(_literal(c) for c in FORMULA_START)
    + "]) AND {value} !~ "
    + _literal(NUMBER.pattern)
    + " THEN '''' || {value} ELSE {value} END"
)


# Text in a sheet's XML, in a line of COPY's text format: markup escaped, and the characters
# COPY would escape (backslash, tab, line feed, carriage return) written as references.
def _xml_escaped() -> str:
    escaped = "{value}"
    for char, reference in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ("\\", "&#92;"),
        ("\t", "&#9;"),
        ("\n", "&#10;"),
        ("\r", "&#13;"),
    ):
        escaped = f"replace({escaped}, {_literal(char)}, {_literal(reference)})"
    return escaped


XML_ESCAPED = _xml_escaped()
# The CSV's flags, in the export's language (the sheet has boolean cells).
BOOLEAN_COLUMNS = frozenset({"answered", "test"})
YES_NO = {False: ("True", "False"), True: ("بله", "خیر")}
NUMBER_COLUMNS = frozenset({"attempt", "code_length", "verify_attempts", "cost"})
DATE_STYLE = 1  # the style sheet's date cells (api/report_workbook.py)
END = "</t></is></c>"
PERSIAN_CASES = " ".join(
    f"WHEN {_literal(code)} THEN {_literal(word)}" for code, word in PERSIAN_WORDS.items()
)


class Formatter:
    def __init__(self, lang: str, calendar: str, zone: str = "UTC") -> None:
        self.persian = lang == "fa"
        self.jalali = calendar == "jalali"
        self.zone_name = zone

    def headings(self) -> list[str]:
        """Column names; a time column says the zone its times are in."""
        names = [PERSIAN_HEADINGS[c] if self.persian else c for c in COLUMNS]
        return [
            f"{name} ({self.zone_name})" if column in TIME_COLUMNS else name
            for name, column in zip(names, COLUMNS, strict=True)
        ]

    @property
    def sheet_name(self) -> str:
        return "تماس‌ها" if self.persian else "calls"

    def csv_select(self, source: str) -> str:
        """`SELECT <the CSV's cells> FROM <source> AS r <joins>`, for PostgreSQL to write the
        CSV: the rules of `cell`, and times in the transaction's zone (the account's) and the
        chosen calendar (jalali_days, core/migrations/016). In a Persian export a phone starts
        with a left-to-right mark: it keeps its + in a spreadsheet (Excel reads +989121234567
        as the number 9.89E+11) and reads left to right."""
        cells: list[str] = []
        joins: list[str] = []
        for column in COLUMNS:
            value = f"r.{column}"
            if column in TIME_COLUMNS and self.jalali:
                day = f"j_{column}"
                joins.append(f" LEFT JOIN jalali_days {day} ON {day}.day = {value}::date")
                value = f"{day}.jalali || to_char({value}, ' HH24:MI:SS')"
            elif column in TIME_COLUMNS:
                value = f"to_char({value}, '{ISO_TIME}')"
            elif column in BOOLEAN_COLUMNS:
                yes, no = YES_NO[self.persian]
                value = f"CASE WHEN {value} THEN {_literal(yes)} ELSE {_literal(no)} END"
            elif column in WRITTEN_COLUMNS:
                value = NEUTRALISED.format(value=value)
            elif self.persian and column in WORDED_COLUMNS:
                value = f"CASE {value} {PERSIAN_CASES} ELSE {value} END"
            elif self.persian and column in PHONE_COLUMNS:
                value = f"{_literal(LEFT_TO_RIGHT)} || {value}"
            cells.append(value)
        return f"SELECT {', '.join(cells)} FROM {source} AS r{''.join(joins)}"

    def sheet_select(self, source: str) -> str:
        """`SELECT <a sheet row's XML> FROM <source> AS r`: text cells (the rules of the CSV,
        escaped), numbers, a flag, and times as date cells of the transaction's zone (the
        calendar is the reader's spreadsheet's to show)."""
        cells: list[str] = []
        for column in COLUMNS:
            value = f"r.{column}"
            if column in TIME_COLUMNS:
                # Excel's serial: days since 1899-12-30 of the local time (date_part: float8).
                serial = f"date_part('epoch', {value}::timestamp) / 86400 + 25569"
                cell = f"'<c s=\"{DATE_STYLE}\"><v>' || {serial} || '</v></c>'"
            elif column in NUMBER_COLUMNS:
                cell = f"'<c><v>' || {value} || '</v></c>'"
            elif column in BOOLEAN_COLUMNS:
                flag = "'<c t=\"b\"><v>' || {} || '</v></c>'"
                cell = f"CASE WHEN {value} THEN {flag.format(1)} ELSE {flag.format(0)} END"
            elif column in WRITTEN_COLUMNS:  # spaces at either end are kept
                value = XML_ESCAPED.format(value=NEUTRALISED.format(value=value))
                cell = f"'<c t=\"inlineStr\"><is><t xml:space=\"preserve\">' || {value} || '{END}'"
            else:
                if self.persian and column in WORDED_COLUMNS:
                    value = f"CASE {value} {PERSIAN_CASES} ELSE {value} END"
                cell = f"'<c t=\"inlineStr\"><is><t>' || {value} || '{END}'"
            cells.append(f"coalesce({cell}, '<c/>')")
        return f"SELECT concat('<row>', {', '.join(cells)}, '</row>') FROM {source} AS r"


def xml_text(text: str) -> str:
    """Text for an XML element or attribute (the sheet's heading and name)."""
    return escape(text, {'"': "&quot;"})


def csv_lines(rows: Iterable[list[Any]]) -> str:
    """Rows as COPY writes them: quoted where needed, a line feed each."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()
