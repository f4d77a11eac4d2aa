"""Account: call reports, as pages, CSV and Excel downloads, and summaries."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from openpyxl import Workbook
from psycopg.rows import dict_row

from api import queries
from api.auth import Account, Ctx
from api.calling import parse_phone
from api.context import Context
from api.errors import ApiError, not_found
from api.models import Page, ReportRow, Rfc3339, Summary
from api.openapi import problems
from api.paging import Cursor, Limit
from api.report_export import Formatter, csv_lines
from core.call_rules import CallStatus
from core.references import MAX_REFERENCE
from projections.call_report import COLUMNS, REPORT, ReportFilter, summary_sql

router = APIRouter(
    prefix="/v1/reports",
    tags=["reports"],
    responses=problems(
        "unauthorized",
        "forbidden",
        "not_found",
        "invalid_phone",
        "invalid_time_range",
        "invalid_request",
    ),
)

EXPORT_BATCH = 2000
CSV_BOM = "\ufeff"  # so Excel opens the UTF-8 file as UTF-8 (Persian text)


async def report_filter(
    ctx: Ctx,
    account: Account,
    service_id: uuid.UUID | None = None,
    key_id: uuid.UUID | None = None,
    status: CallStatus | None = None,
    phone: Annotated[str | None, Query(max_length=32)] = None,
    reference: Annotated[str | None, Query(min_length=1, max_length=MAX_REFERENCE)] = None,
    start: Annotated[Rfc3339 | None, Query(alias="from")] = None,
    end: Annotated[Rfc3339 | None, Query(alias="to")] = None,
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


Filter = Annotated[ReportFilter, Depends(report_filter)]
Lang = Annotated[Literal["en", "fa"], Query()]
Calendar = Annotated[Literal["gregorian", "jalali"], Query()]


@router.get("/calls", response_model=Page[ReportRow])
async def report_calls(
    ctx: Ctx, report: Filter, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    where, params = report.where()
    items, next_cursor = await queries.fetch_page(
        ctx.pool, f"SELECT * FROM {REPORT}{where}", params, cursor, limit
    )
    return {"items": items, "next_cursor": next_cursor}


CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(media_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": what,
            "content": {media_type.split(";")[0]: {"schema": {"type": "string"}}},
        }
    }


@router.get(
    "/calls.csv",
    response_class=StreamingResponse,
    responses=_download(CSV_TYPE, "The report's rows as CSV (UTF-8 with BOM), header row first."),
)
async def report_csv(
    ctx: Ctx, report: Filter, lang: Lang = "en", calendar: Calendar = "gregorian"
) -> StreamingResponse:
    formatter = Formatter(lang, calendar)

    async def lines() -> AsyncIterator[str]:
        yield CSV_BOM + csv_lines([formatter.headings()])
        async for rows in _rows(ctx, report):
            yield csv_lines(formatter.row(r) for r in rows)

    return StreamingResponse(
        lines(),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": 'attachment; filename="calls.csv"'},
    )


@router.get(
    "/calls.xlsx",
    response_class=StreamingResponse,
    responses=_download(XLSX_TYPE, "The report's rows as an Excel workbook."),
)
async def report_xlsx(
    ctx: Ctx, report: Filter, lang: Lang = "en", calendar: Calendar = "gregorian"
) -> StreamingResponse:
    path = await asyncio.to_thread(
        _write_workbook, ctx.settings.require_database_url(), report, Formatter(lang, calendar)
    )
    return StreamingResponse(
        _read_and_remove(path),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": 'attachment; filename="calls.xlsx"'},
    )


@router.get("/summary", response_model=Summary)
async def report_summary(
    ctx: Ctx, report: Filter, bucket: Literal["hour", "day"] = "day"
) -> dict[str, Any]:
    where, params = report.where()
    async with ctx.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(summary_sql(bucket, where), params)
        buckets = await cur.fetchall()
    for b in buckets:
        b["conversion"] = round(b["verified"] / b["delivered"], 4) if b["delivered"] else None
    return {"buckets": buckets}


async def _rows(ctx: Context, report: ReportFilter) -> AsyncIterator[list[dict[str, Any]]]:
    """The report's rows in batches, newest first, through a server-side cursor."""
    where, params = report.where()
    sql = f"SELECT {', '.join(COLUMNS)} FROM {REPORT}{where} ORDER BY created_at DESC, id DESC"
    async with ctx.pool.connection() as conn, conn.transaction():
        cur = conn.cursor(name="report_export", row_factory=dict_row)
        await cur.execute(sql, params)
        while rows := await cur.fetchmany(EXPORT_BATCH):
            yield rows


def _write_workbook(database_url: str, report: ReportFilter, formatter: Formatter) -> str:
    """Write the report to a temporary .xlsx (openpyxl's write-only mode keeps rows out of
    memory) and return its path."""
    where, params = report.where()
    sql = f"SELECT {', '.join(COLUMNS)} FROM {REPORT}{where} ORDER BY created_at DESC, id DESC"
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("calls")
    sheet.append(formatter.headings())
    with psycopg.connect(database_url) as conn, conn.transaction():
        cur = conn.cursor(name="report_xlsx", row_factory=dict_row)
        cur.execute(sql, params)
        while rows := cur.fetchmany(EXPORT_BATCH):
            for row in rows:
                sheet.append(formatter.row(row))
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    workbook.save(path)
    return path


def _read_and_remove(path: str) -> Iterator[bytes]:
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 16):
                yield chunk
    finally:
        os.remove(path)
