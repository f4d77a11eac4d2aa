"""Call reports as the API and the panel both serve them: a page, the summary, CSV and Excel
downloads (times in the account's zone). The routers and the panel's pages call this; the SQL
is in api/report_queries.py (a page, the exports' COPY) and projections/call_rollup.py (the
summary)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import StreamingResponse
from psycopg.abc import Buffer

from api import report_queries
from api.report_export import Formatter, csv_lines
from api.report_workbook import write_workbook
from core.call_rules import CallStatus
from front_door import queries
from front_door.call_checks import parse_phone
from front_door.context import Context
from front_door.directory import AccountView
from front_door.problems import ApiError, not_found
from projections.call_report import REPORT, ReportFilter
from projections.call_rollup import summary_query

CHUNK = 1 << 16
CSV_BOM = "\ufeff"  # so Excel opens the UTF-8 file as UTF-8 (Persian text)
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def report_filter(
    ctx: Context,
    account: AccountView,
    service_id: uuid.UUID | None = None,
    key_id: uuid.UUID | None = None,
    status: CallStatus | None = None,
    phone: str | None = None,
    reference: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> ReportFilter:
    """The report's filters; another account's service or key is answered as missing."""
    if start is not None and end is not None and start > end:
        raise ApiError("invalid_time_range", "`from` must not be after `to`")
    if service_id is not None:
        service = ctx.directory.services.get(service_id)
        if service is None or service.account_id != account.id:
            raise not_found("service")
    if key_id is not None:
        key = ctx.directory.keys.get(key_id)
        if key is None or key.account_id != account.id:
            raise not_found("access key")
    return ReportFilter(
        account_id=account.id,
        service_id=service_id,
        key_id=key_id,
        status=status,
        phone=parse_phone(ctx, phone) if phone is not None else None,
        reference=reference,
        start=start,
        end=end,
    )


def zone_of(ctx: Context, account: AccountView) -> str:
    """The account's time zone, or the platform's (FLASHCALL_PANEL_TIMEZONE)."""
    return account.time_zone or ctx.settings.panel_timezone


async def page(
    ctx: Context, report: ReportFilter, limit: int, cursor: str | None
) -> dict[str, Any]:
    items, next_cursor = await report_queries.page(ctx.pool, report, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}


async def summary(ctx: Context, report: ReportFilter, bucket: str, zone: str) -> dict[str, Any]:
    """Calls per hour or day of `zone` (the account's: a day here is the panel's day), from the
    rolled-up report; each bucket starts at its local midnight or hour, with its offset."""
    sql, params = summary_query(report, bucket, zone)
    buckets = await queries.fetch_all(ctx.pool, sql, tuple(params))
    local = ZoneInfo(zone)
    for b in buckets:
        b["start"] = b["start"].astimezone(local)
        b["conversion"] = round(b["verified"] / b["delivered"], 4) if b["delivered"] else None
        by_sms = b.pop("verified_sms")
        b["verified_by_channel"] = {"flash_call": b["verified"] - by_sms, "sms": by_sms}
    return {"buckets": buckets, "by_network": await by_network(ctx, report)}


async def by_network(ctx: Context, report: ReportFilter) -> dict[str, dict[str, Any]]:
    """Delivery and conversion per mobile network over the whole range (docs/ranges.md)."""
    where, params = report.where()
    rows = await queries.fetch_all(
        ctx.pool,
        "SELECT COALESCE(network, 'unknown') AS network, count(*) AS requested,"
        " count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered,"
        " count(*) FILTER (WHERE status = 'failed') AS failed,"
        " count(*) FILTER (WHERE status = 'verified') AS verified"
        f" FROM {REPORT}{where} GROUP BY 1 ORDER BY 1",
        tuple(params),
    )
    return {
        r.pop("network"): {
            **r,
            "delivery": round(r["delivered"] / (r["delivered"] + r["failed"]), 4)
            if r["delivered"] + r["failed"]
            else None,
            "conversion": round(r["verified"] / r["delivered"], 4) if r["delivered"] else None,
        }
        for r in rows
    }


async def csv_download(
    ctx: Context, report: ReportFilter, formatter: Formatter
) -> StreamingResponse:
    """The report as CSV, written by PostgreSQL (COPY) and passed on as it comes. The COPY
    has started before the answer does: a failure to start is answered as one (a problem, a
    503), not as a download cut short."""
    copied = _copied(ctx, report, formatter)
    first = await anext(copied, b"")

    async def chunks() -> AsyncIterator[bytes]:
        yield (CSV_BOM + csv_lines([formatter.headings()])).encode() + first
        async for chunk in copied:
            yield chunk

    return StreamingResponse(
        chunks(),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": 'attachment; filename="calls.csv"'},
    )


async def xlsx_download(
    ctx: Context, report: ReportFilter, formatter: Formatter
) -> StreamingResponse:
    path = await asyncio.to_thread(
        _write_workbook, ctx.settings.require_database_url(), report, formatter
    )
    return StreamingResponse(
        _read_and_remove(path),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": 'attachment; filename="calls.xlsx"'},
    )


async def _copied(ctx: Context, report: ReportFilter, formatter: Formatter) -> AsyncIterator[bytes]:
    """The report's CSV rows in blocks of CHUNK bytes or more (COPY hands over about a row at
    a time: a write to the client for each would cost more than the row)."""
    block = bytearray()
    async for chunk in report_queries.csv_rows(ctx.pool, report, formatter):
        if full := _joined(block, chunk):
            yield full
    if block:
        yield bytes(block)


def _write_workbook(database_url: str, report: ReportFilter, formatter: Formatter) -> str:
    """Write the report to a temporary .xlsx, its rows as PostgreSQL writes them
    (api/report_workbook.py), and return its path."""
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    try:
        with (
            os.fdopen(handle, "wb") as out,
            report_queries.sheet_rows(database_url, report, formatter) as rows,
        ):
            write_workbook(out, formatter, _in_blocks(rows))
    except BaseException:
        os.remove(path)  # nothing half-written is left behind
        raise
    return path


def _in_blocks(chunks: Iterable[Buffer]) -> Iterator[bytes]:
    """COPY's chunks (about a row each) joined into blocks of CHUNK bytes or more."""
    block = bytearray()
    for chunk in chunks:
        if full := _joined(block, chunk):
            yield full
    if block:
        yield bytes(block)


def _joined(block: bytearray, chunk: Buffer) -> bytes | None:
    """Add `chunk` to `block`; once it holds CHUNK bytes, take them out (empty: not yet)."""
    block += chunk
    if len(block) < CHUNK:
        return None
    full = bytes(block)
    block.clear()
    return full


def _read_and_remove(path: str) -> Iterator[bytes]:
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
    finally:
        os.remove(path)
