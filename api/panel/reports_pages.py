"""Reports (filters, a page of calls, calls per day by outcome, downloads) and credit."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.panel.i18n import parse_day
from api.panel.web import (
    PREFIX,
    Customer,
    PanelError,
    Visit,
    account_of,
    finish,
    parse_uuid,
    render,
    said,
)
from api.report_export import Formatter
from api.service_layer import credit
from api.service_layer import reports as report_service
from core.call_rules import CallStatus
from front_door import queries
from front_door.problems import ApiError, not_found
from projections import call_steps
from projections.call_report import ReportFilter

router = APIRouter(prefix=PREFIX, include_in_schema=False)

PAGE_SIZE = 50
FILTERS = ("service_id", "key_id", "status", "phone", "from", "to")
# Outcomes stacked in the chart, bottom up.
OUTCOMES = ("verified", "expired", "waiting", "failed", "rejected")


@router.get("/reports")
async def reports_page(visit: Customer) -> Response:
    values = _filter_values(visit.request)
    keys = await queries.keys_with_services(visit.ctx.pool, account_of(visit).id)
    services = await queries.service_names(visit.ctx.pool, account_of(visit).id)
    shared: dict[str, Any] = {
        "values": values,
        "keys": keys,
        "services": services,
        "statuses": list(CallStatus),
    }
    try:
        report = await _report_filter(visit, values)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return render(visit, "reports.html", exc.status, error=_said(visit, exc), **shared)
    cursor = visit.request.query_params.get("cursor") or None
    calls = await report_service.page(visit.ctx, report, PAGE_SIZE, cursor)
    summary = await report_service.summary(visit.ctx, report, "day", visit.words.timezone)
    query = urlencode(values)
    return render(
        visit,
        "reports.html",
        calls=calls["items"],
        next_cursor=calls["next_cursor"],
        first_page=cursor is None,
        buckets=summary["buckets"],
        chart=_chart(visit, summary["buckets"]),
        query=query,
        **shared,
    )


@router.get("/reports/calls.csv")
async def download_csv(visit: Customer) -> Response:
    report = await _report_filter(visit, _filter_values(visit.request))
    lang, calendar = _export_style(visit)
    formatter = Formatter(lang, calendar, visit.words.timezone)
    return finish(visit, await report_service.csv_download(visit.ctx, report, formatter))


@router.get("/reports/calls.xlsx")
async def download_xlsx(visit: Customer) -> Response:
    report = await _report_filter(visit, _filter_values(visit.request))
    lang, calendar = _export_style(visit)
    formatter = Formatter(lang, calendar, visit.words.timezone)
    return finish(visit, await report_service.xlsx_download(visit.ctx, report, formatter))


@router.get("/calls/{call_id}")
async def call_page(call_id: uuid.UUID, visit: Customer) -> Response:
    """One call on its own page (a report row's and a ledger debit's link)."""
    return render(visit, "call.html", call=await own_call(visit, call_id))


async def own_call(visit: Visit, call_id: uuid.UUID) -> dict[str, Any]:
    """One of the account's calls; another account's is answered as missing."""
    call = await queries.call(visit.ctx.pool, call_id)
    if call is None or call["account_id"] != account_of(visit).id:
        raise not_found("call")
    return {**call, "steps": call_steps.timed(call["steps"])}


@router.get("/credit")
async def credit_page(visit: Customer, service_id: str | None = None) -> Response:
    account = account_of(visit)
    balance = await credit.balance(visit.ctx, account.id)
    services = balance["services"]
    chosen = parse_uuid(service_id) or (services[0]["id"] if services else None)
    ledger: list[dict[str, Any]] = []
    if chosen is not None:  # the ledger answers 404 for another account's service
        page = await credit.ledger(visit.ctx, account, chosen, 200, None)
        ledger = page["items"]
    return render(
        visit,
        "credit.html",
        total=balance["total"],
        account=balance,
        services=services,
        chosen=chosen,
        ledger=ledger,
    )


def _filter_values(request: Request) -> dict[str, str]:
    return {k: v.strip() for k in FILTERS if (v := request.query_params.get(k, "")).strip()}


async def _report_filter(visit: Visit, values: dict[str, str]) -> ReportFilter:
    """The filter the API would build from the same query; dates are whole days in the panel's
    time zone, `to` included."""
    status = values.get("status")
    if status is not None and status not in {s.value for s in CallStatus}:
        raise PanelError("invalid_request", visit.words.invalid("reports.status", "valid.choice"))
    zone = ZoneInfo(visit.words.timezone)
    start = _day(visit, values.get("from"), zone, "reports.from")
    end = _day(visit, values.get("to"), zone, "reports.to")
    return report_service.report_filter(
        visit.ctx,
        account_of(visit),
        service_id=_uuid(visit, values.get("service_id"), "reports.service"),
        key_id=_uuid(visit, values.get("key_id"), "reports.key"),
        status=CallStatus(status) if status else None,
        phone=values.get("phone"),
        start=start,
        end=end + timedelta(days=1) if end else None,
    )


def _day(visit: Visit, value: str | None, zone: ZoneInfo, label: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(parse_day(value), time(), zone)
    except ValueError as exc:
        raise PanelError("invalid_request", visit.words.invalid(label, "valid.day")) from exc


def _uuid(visit: Visit, value: str | None, label: str) -> uuid.UUID | None:
    parsed = parse_uuid(value)
    if value and parsed is None:
        raise PanelError("invalid_request", visit.words.invalid(label, "valid.choice"))
    return parsed


def _said(visit: Visit, exc: ApiError) -> str:
    """A phone the filter cannot read is answered with what a phone looks like."""
    if exc.code == "invalid_phone":
        return visit.words.invalid("reports.phone", "valid.phone")
    return said(visit, exc)


def _export_style(visit: Visit) -> tuple[Any, Any]:
    persian = visit.words.lang == "fa"
    return ("fa", "jalali") if persian else ("en", "gregorian")


def _chart(visit: Visit, buckets: list[dict[str, Any]]) -> dict[str, Any]:
    """Calls per day stacked by outcome, with each day's conversion (verified / delivered)."""
    series: dict[str, list[int]] = {name: [] for name in OUTCOMES}
    for b in buckets:
        series["verified"].append(b["verified"])
        series["expired"].append(b["expired"])
        series["waiting"].append(max(0, b["delivered"] - b["verified"] - b["expired"]))
        series["failed"].append(b["failed"])
        series["rejected"].append(b["rejected"])
    return {
        "labels": [visit.words.day(b["start"]) for b in buckets],
        "series": [series[name] for name in OUTCOMES],
        "names": [visit.words.t(f"col.{name}") for name in OUTCOMES],
    }
