"""Report downloads: CSV and Excel rows, Persian headings and status names, Jalali dates, and
cells that a spreadsheet would run as formulas neutralised."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jdatetime

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
    "service_disabled": "سرویس غیرفعال",
    "fraud_suspected": "مشکوک به تقلب",
}

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def neutralise(text: str) -> str:
    """A cell a spreadsheet would evaluate (=, +, -, @ ...) and that is not a number gets a
    leading apostrophe, so it is shown as text."""
    if text.startswith(FORMULA_START) and not NUMBER.match(text):
        return "'" + text
    return text


PHONE_COLUMNS = frozenset({"phone", "caller_number"})
TIME_COLUMNS = frozenset(
    {"created_at", "dialed_at", "delivered_at", "expires_at", "verified_at", "expired_at"}
)


class Formatter:
    def __init__(self, lang: str, calendar: str, zone: str = "UTC") -> None:
        self.persian = lang == "fa"
        self.jalali = calendar == "jalali"
        self.zone_name = zone
        self.zone = ZoneInfo(zone)

    def headings(self) -> list[str]:
        """Column names; a time column says the zone its times are in."""
        names = [PERSIAN_HEADINGS[c] if self.persian else c for c in COLUMNS]
        return [
            f"{name} ({self.zone_name})" if column in TIME_COLUMNS else name
            for name, column in zip(names, COLUMNS, strict=True)
        ]

    def cell(self, column: str, value: Any) -> Any:
        """A value for a spreadsheet: words translated, times in the account's zone and the
        chosen calendar, text neutralised; numbers stay numbers."""
        if value is None:
            return ""
        if isinstance(value, datetime):
            local = value.astimezone(self.zone)
            if self.jalali:
                return jdatetime.datetime.fromgregorian(datetime=local).strftime(
                    "%Y/%m/%d %H:%M:%S"
                )
            return local.isoformat()
        if isinstance(value, bool | int):
            return value
        text = str(value)
        if self.persian and column in ("status", "failure_reason"):
            text = PERSIAN_WORDS.get(text, text)
        return neutralise(text)

    def row(self, record: dict[str, Any]) -> list[Any]:
        return [self.text_cell(c, record[c]) for c in COLUMNS]

    def text_cell(self, column: str, value: Any) -> Any:
        """A CSV cell: a phone number keeps its + in a spreadsheet (Excel reads
        +989121234567 as the number 9.89E+11): in a Persian export it starts with a
        left-to-right mark, which also keeps it reading left to right."""
        cell = self.cell(column, value)
        if self.persian and column in PHONE_COLUMNS and cell:
            return "\u200e" + cell
        return cell

    def sheet_row(self, record: dict[str, Any]) -> list[Any]:
        """A spreadsheet row: times are date cells in the account's zone (the calendar is
        the reader's spreadsheet's to show)."""
        return [
            record[c].astimezone(self.zone).replace(tzinfo=None)
            if isinstance(record[c], datetime)
            else self.cell(c, record[c])
            for c in COLUMNS
        ]

    @property
    def sheet_name(self) -> str:
        return "تماس‌ها" if self.persian else "calls"


def csv_lines(rows: Iterable[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()
