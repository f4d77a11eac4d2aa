"""Account: call reports, as pages, CSV and Excel downloads, and summaries."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.auth import Account, Ctx
from api.http_params import Cursor, Limit
from api.models import Page, ReportRow, Rfc3339, Summary
from api.openapi import problems
from api.report_export import Formatter
from api.service_layer import reports as report_service
from core.call_rules import CallStatus
from core.references import MAX_REFERENCE
from projections.call_report import ReportFilter

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


def report_filter(
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
    """The report's filters from the query (api/service_layer/reports.py checks them)."""
    return report_service.report_filter(
        ctx, account, service_id, key_id, status, phone, reference, start, end
    )


Filter = Annotated[ReportFilter, Depends(report_filter)]


Lang = Annotated[Literal["en", "fa"], Query()]
Calendar = Annotated[Literal["gregorian", "jalali"], Query()]


@router.get("/calls", response_model=Page[ReportRow])
async def report_calls(
    ctx: Ctx, report: Filter, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    return await report_service.page(ctx, report, limit, cursor)


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
    responses=_download(
        report_service.CSV_TYPE, "The report's rows as CSV (UTF-8 with BOM), header row first."
    ),
)
async def report_csv(
    ctx: Ctx, account: Account, report: Filter, lang: Lang = "en", calendar: Calendar = "gregorian"
) -> StreamingResponse:
    """Times in the account's time zone (named in the header row), in either calendar."""
    formatter = Formatter(lang, calendar, report_service.zone_of(ctx, account))
    return await report_service.csv_download(ctx, report, formatter)


@router.get(
    "/calls.xlsx",
    response_class=StreamingResponse,
    responses=_download(report_service.XLSX_TYPE, "The report's rows as an Excel workbook."),
)
async def report_xlsx(
    ctx: Ctx, account: Account, report: Filter, lang: Lang = "en", calendar: Calendar = "gregorian"
) -> StreamingResponse:
    """Times in the account's time zone (named in the header row), in either calendar."""
    formatter = Formatter(lang, calendar, report_service.zone_of(ctx, account))
    return await report_service.xlsx_download(ctx, report, formatter)


@router.get("/summary", response_model=Summary)
async def report_summary(
    ctx: Ctx, account: Account, report: Filter, bucket: Literal["hour", "day"] = "day"
) -> dict[str, Any]:
    """Hours and days of the account's time zone (each `start` carries its offset)."""
    zone = report_service.zone_of(ctx, account)
    return await report_service.summary(ctx, report, bucket, zone)
