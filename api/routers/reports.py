"""Account: call reports, as pages, CSV and Excel downloads, and summaries."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api import report_service
from api.auth import Account, Ctx
from api.calling import parse_phone
from api.errors import ApiError, not_found
from api.models import Page, ReportRow, Rfc3339, Summary
from api.openapi import problems
from api.paging import Cursor, Limit
from api.report_export import Formatter
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
    return report_service.csv_download(ctx, report, formatter)


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
    ctx: Ctx, report: Filter, bucket: Literal["hour", "day"] = "day"
) -> dict[str, Any]:
    return await report_service.summary(ctx, report, bucket)
