"""The CSV and Excel exports as PostgreSQL writes them (COPY), against the real database:
formulas guarded, words translated, phones marked, markup escaped, times in the account's zone
and calendar, sheets split at Excel's limit, and the Jalali table day for day with jdatetime."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import uuid
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, cast

import jdatetime
import openpyxl
import pytest
from psycopg_pool import AsyncConnectionPool

from api import report_workbook
from api.report_export import Formatter
from api.service_layer.reports import _copied, _write_workbook
from front_door.context import Context
from projections.call_report import COLUMNS, ReportFilter

CREATED = datetime(2026, 11, 27, 8, 30, 0, 250_000, tzinfo=UTC)  # 12:00:00.25 in Tehran
# What a spreadsheet takes for a formula (CSV injection): written out, not taken from the guard.
GUARDED = [f"{c}HYPERLINK(1)" for c in ("=", "+", "-", "@", "\t", "\r")]
KEPT = ["+989121234567", "-1000", "+1.5", "42", "web = login", ' <b>&"\\ tab\tline\n ']
LABELS = GUARDED + KEPT


async def test_every_day_of_the_jalali_table_is_jdatetimes(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        days = await (await conn.execute("SELECT day, jalali FROM jalali_days")).fetchall()
    assert len(days) > 40_000
    wrong = [
        (day, jalali)
        for day, jalali in days
        if jdatetime.date.fromgregorian(date=day).strftime("%Y/%m/%d") != jalali
    ]
    assert wrong == []


@pytest.fixture
async def account(pool: AsyncConnectionPool) -> uuid.UUID:
    """One call per label, each key labelled so; one call failed as busy, one with a word
    the export does not know; one answered."""
    account_id, service_id = uuid.uuid4(), uuid.uuid4()
    async with pool.connection() as conn:
        for i, label in enumerate(LABELS):
            key_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO access_keys (id, service_id, account_id, label, prefix, key_hash,"
                " created_at) VALUES (%s, %s, %s, %s, 'fk_x', %s, %s)",
                (key_id, service_id, account_id, label, key_id.hex, CREATED),
            )
            status, reason = [("verified", None), ("failed", "busy"), ("failed", "new_reason")][
                i % 3
            ]
            await conn.execute(
                "INSERT INTO calls (id, service_id, account_id, key_id, phone, caller_number,"
                " code_length, attempt, status, status_rank, failure_reason, cost,"
                " verify_attempts, created_at, dialed_at, reference, answered)"
                " VALUES (%s, %s, %s, %s, '+989121234567', '+982191012345', 5, 1, %s, 3, %s,"
                " 1000, 2, %s, NULL, %s, %s)",
                (
                    uuid.uuid4(),
                    service_id,
                    account_id,
                    key_id,
                    status,
                    reason,
                    CREATED.replace(second=i),
                    f'ref "{i}", quoted',
                    i == 0,
                ),
            )
    return account_id


async def exported(pool: AsyncConnectionPool, account_id: uuid.UUID, f: Formatter) -> Any:
    ctx = cast(Context, SimpleNamespace(pool=pool))
    text = b"".join([c async for c in _copied(ctx, ReportFilter(account_id), f)]).decode()
    return [dict(zip(COLUMNS, row, strict=True)) for row in csv.reader(io.StringIO(text))]


async def test_written_text_is_guarded_as_the_spreadsheets_cells_are(
    pool: AsyncConnectionPool, account: uuid.UUID
) -> None:
    formatter = Formatter("en", "gregorian", "Asia/Tehran")
    rows = await exported(pool, account, formatter)
    assert len(rows) == len(LABELS)
    assert {r["key_label"] for r in rows} == {"'" + g for g in GUARDED} | set(KEPT)
    assert {r["reference"] for r in rows} == {f'ref "{i}", quoted' for i in range(len(LABELS))}


async def test_an_english_export_has_codes_and_rfc3339_times_in_the_zone(
    pool: AsyncConnectionPool, account: uuid.UUID
) -> None:
    rows = await exported(pool, account, Formatter("en", "gregorian", "Asia/Tehran"))
    times = [r["created_at"] for r in rows]
    assert times == sorted(times, reverse=True)  # newest first
    newest = rows[0]
    assert newest["created_at"] == f"2026-11-27T12:00:{len(LABELS) - 1:02d}.250000+03:30"
    assert newest["dialed_at"] == "" and newest["phone"] == "+989121234567"
    assert {r["status"] for r in rows} == {"verified", "failed"}
    assert {r["failure_reason"] for r in rows} == {"", "busy", "new_reason"}
    assert {r["answered"] for r in rows} == {"True", "False"}
    assert {r["cost"] for r in rows} == {"1000"}
    utc = await exported(pool, account, Formatter("en", "gregorian", "UTC"))
    assert utc[-1]["created_at"] == "2026-11-27T08:30:00.250000+00:00"


async def test_a_persian_export_speaks_persian_in_the_jalali_calendar(
    pool: AsyncConnectionPool, account: uuid.UUID
) -> None:
    formatter = Formatter("fa", "jalali", "Asia/Tehran")
    rows = await exported(pool, account, formatter)
    assert rows[-1]["created_at"] == "1405/09/06 12:00:00"
    assert {r["status"] for r in rows} == {"تأیید شده", "ناموفق"}
    # A word the export does not know is kept.
    assert {r["failure_reason"] for r in rows} == {"مشغول", "new_reason", ""}
    assert {r["phone"] for r in rows} == {"\u200e+989121234567"}
    assert {r["caller_number"] for r in rows} == {"\u200e+982191012345"}
    assert {r["key_label"] for r in rows} == {"'" + g for g in GUARDED} | set(KEPT)
    assert {r["answered"] for r in rows} == {"بله", "خیر"}  # yes and no, not True and False


def workbook(database_url: str, account_id: uuid.UUID, formatter: Formatter) -> Any:
    path = _write_workbook(database_url, ReportFilter(account_id), formatter)
    try:
        return openpyxl.load_workbook(path)
    finally:
        os.remove(path)


def sheet_rows(sheet: Any) -> list[dict[str, Any]]:
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]


async def test_the_sheet_has_typed_cells_guarded_and_escaped_text_and_persian_words(
    quiet_database_url: str, account: uuid.UUID
) -> None:
    book = await asyncio.to_thread(
        workbook, quiet_database_url, account, Formatter("fa", "jalali", "Asia/Tehran")
    )
    sheet = book.active
    assert sheet.title == "تماس‌ها" and sheet.sheet_view.rightToLeft
    assert sheet.freeze_panes == "A2" and sheet.cell(1, 1).font.bold
    assert sheet.cell(1, 1).value == "شناسه تماس"
    rows = sheet_rows(sheet)
    assert len(rows) == len(LABELS)
    assert {r["key_label"] for r in rows} == {"'" + g for g in GUARDED} | set(KEPT)
    assert {r["reference"] for r in rows} == {f'ref "{i}", quoted' for i in range(len(LABELS))}
    assert {r["status"] for r in rows} == {"تأیید شده", "ناموفق"}
    assert {r["failure_reason"] for r in rows} == {"مشغول", "new_reason", None}
    assert {r["phone"] for r in rows} == {"+989121234567"}  # text cells: no mark needed
    assert {r["answered"] for r in rows} == {True, False}
    assert {r["cost"] for r in rows} == {1000} and {r["attempt"] for r in rows} == {1}
    oldest = rows[-1]
    # A date cell in the account's zone (openpyxl reads Excel's serial to the microsecond).
    assert abs(oldest["created_at"] - datetime(2026, 11, 27, 12, 0, 0, 250_000)) < timedelta(
        microseconds=10
    )
    assert oldest["dialed_at"] is None


async def test_a_flag_is_a_boolean_cell_of_one_or_zero(
    quiet_database_url: str, account: uuid.UUID
) -> None:
    """What Excel reads (openpyxl reads any number in a boolean cell as a flag)."""
    formatter = Formatter("en", "gregorian", "UTC")
    path = await asyncio.to_thread(
        _write_workbook, quiet_database_url, ReportFilter(account), formatter
    )
    try:
        with zipfile.ZipFile(path) as book:
            sheet = book.read("xl/worksheets/sheet1.xml").decode()
    finally:
        os.remove(path)
    flags = re.findall(r'<c t="b"><v>([^<]*)</v></c>', sheet)
    # Two flags a row (answered, test): one call was answered, none is a test call.
    assert sorted(flags) == ["0"] * (2 * len(LABELS) - 1) + ["1"]


async def test_a_report_longer_than_a_sheet_goes_on_in_the_next(
    quiet_database_url: str, account: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_workbook, "ROWS_PER_SHEET", 4)
    book = await asyncio.to_thread(
        workbook, quiet_database_url, account, Formatter("en", "gregorian", "UTC")
    )
    assert book.sheetnames == ["calls", "calls (2)", "calls (3)"]
    sizes = [len(sheet_rows(book[name])) for name in book.sheetnames]
    assert sizes == [4, 4, len(LABELS) - 8]
    rows = [r for name in book.sheetnames for r in sheet_rows(book[name])]
    assert len({r["id"] for r in rows}) == len(LABELS)
    times = [r["created_at"] for r in rows]
    assert times == sorted(times, reverse=True)  # newest first, across the sheets
    assert all(book[name].cell(1, 1).value == "id" for name in book.sheetnames)


async def test_an_empty_report_is_a_sheet_with_its_heading(quiet_database_url: str) -> None:
    book = await asyncio.to_thread(
        workbook, quiet_database_url, uuid.uuid4(), Formatter("en", "gregorian", "UTC")
    )
    assert book.sheetnames == ["calls"]
    assert [c.value for c in book["calls"][1]][:2] == ["id", "service_id"]
    assert sheet_rows(book["calls"]) == []


async def test_a_time_with_an_offset_postgresql_cannot_read_is_read_in_utc(
    pool: AsyncConnectionPool, account: uuid.UUID
) -> None:
    """RFC 3339 allows offsets to ±23:59, PostgreSQL reads them below 16 hours, and COPY binds
    its parameters as text (found by the OpenAPI fuzz: the download was cut short)."""
    far_east = datetime(2000, 1, 1, tzinfo=timezone(timedelta(hours=16)))
    ctx = cast(Context, SimpleNamespace(pool=pool))
    report = ReportFilter(account, start=far_east, end=far_east + timedelta(days=10_000))
    text = b"".join([c async for c in _copied(ctx, report, Formatter("en", "gregorian"))])
    assert len(list(csv.reader(io.StringIO(text.decode())))) == len(LABELS)
