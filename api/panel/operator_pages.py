"""The operator console: accounts, their prices and limits, their services' limits, top-ups;
the caller ranges, their health per network and their quarantines."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from api.auth import Caller
from api.models import AccountPatch, RangeCreate, RangePatch, ServicePatch, TopUpCreate
from api.panel.forms import FormError, parse
from api.panel.web import PREFIX, OperatorVisit, Visit, checked_form, once_key, render
from api.service_layer import accounts, credit, ranges, services, streams
from front_door import queries
from front_door.problems import ApiError, not_found

router = APIRouter(prefix=f"{PREFIX}/operator", include_in_schema=False)


@router.get("")
async def accounts_page(visit: OperatorVisit) -> Response:
    overview = await queries.accounts_overview(visit.ctx.pool)
    return render(visit, "operator.html", accounts=overview)


@router.get("/accounts/{account_id}")
async def account_page(account_id: uuid.UUID, visit: OperatorVisit) -> Response:
    return await _account(visit, account_id)


@router.post("/accounts/{account_id}")
async def edit_account(account_id: uuid.UUID, visit: OperatorVisit) -> Response:
    form = await checked_form(visit)
    fields = {
        "name": "text",
        "price_per_call": "int",
        "credit_limit": "int",
        "total_credit_limit": "int",
    }
    try:
        body = parse(AccountPatch, form, fields, visit.words)
    except FormError as exc:
        return await _account(visit, account_id, 422, error=exc.message)
    await accounts.update(visit.ctx, account_id, body)
    return await _account(visit, account_id, notice=visit.words.t("service.saved"))


@router.post("/accounts/{account_id}/streams")
async def enable_streams(account_id: uuid.UUID, visit: OperatorVisit) -> Response:
    await checked_form(visit)
    await streams.enable(visit.ctx, account_id)
    notice = visit.words.t("operator.streams_enabled")
    return await _account(visit, account_id, notice=notice)


@router.post("/services/{service_id}/limit")
async def edit_service_limit(service_id: uuid.UUID, visit: OperatorVisit) -> Response:
    form = await checked_form(visit)
    service = await _service(visit, service_id)
    try:
        body = parse(ServicePatch, form, {"credit_limit": "int"}, visit.words)
    except FormError as exc:
        return await _account(visit, service["account_id"], 422, error=exc.message)
    await services.update(
        visit.ctx, Caller(True, None), service_id, body.model_dump(exclude_unset=True)
    )
    return await _account(visit, service["account_id"], notice=visit.words.t("service.saved"))


@router.post("/services/{service_id}/topups")
async def top_up(service_id: uuid.UUID, visit: OperatorVisit) -> Response:
    form = await checked_form(visit)
    service = await _service(visit, service_id)
    try:
        body = parse(TopUpCreate, form, {"amount": "int", "reference": "text"}, visit.words)
    except FormError as exc:
        return await _account(visit, service["account_id"], 422, error=exc.message)
    await credit.top_up(visit.ctx, service_id, body, once_key(form))
    notice = visit.words.t("operator.topped_up")
    return await _account(visit, service["account_id"], notice=notice)


@router.get("/ranges")
async def ranges_page(visit: OperatorVisit) -> Response:
    return await _ranges(visit)


@router.post("/ranges")
async def add_range(visit: OperatorVisit) -> Response:
    form = await checked_form(visit)
    fields = {"pattern": "text", "trunk": "text", "destinations": "list"}
    try:
        body = parse(RangeCreate, form, fields, visit.words)
        await ranges.add(visit.ctx, body.pattern, body.trunk, body.destinations, once_key(form))
    except FormError as exc:
        return await _ranges(visit, 422, error=exc.message)
    except ApiError as exc:
        if exc.code != "range_overlaps":
            raise
        return await _ranges(visit, 409, error=visit.words.problem(exc.code, exc.detail))
    return await _ranges(visit, notice=visit.words.t("ranges.added"))


@router.post("/ranges/{range_id}")
async def set_range_status(range_id: uuid.UUID, visit: OperatorVisit) -> Response:
    form = await checked_form(visit)
    try:
        body = parse(RangePatch, form, {"status": "text"}, visit.words)
    except FormError as exc:
        return await _ranges(visit, 422, error=exc.message)
    await ranges.set_status(visit.ctx, range_id, body.status)
    return await _ranges(visit, notice=visit.words.t("service.saved"))


async def _ranges(
    visit: Visit, status: int = 200, error: str | None = None, notice: str | None = None
) -> Response:
    listed = await ranges.page(visit.ctx, 1000, None)
    return render(
        visit,
        "operator_ranges.html",
        status,
        ranges=listed["items"],
        quarantines=await ranges.recent_quarantines(visit.ctx),
        error=error,
        notice=notice,
    )


async def _service(visit: Visit, service_id: uuid.UUID) -> dict[str, Any]:
    service = await queries.service(visit.ctx.pool, service_id)
    if service is None:
        raise not_found("service")
    return service


async def _account(
    visit: Visit,
    account_id: uuid.UUID,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    account = await accounts.get(visit.ctx, account_id)
    total = await credit.balance(visit.ctx, account_id)
    streaming = await queries.streams_enabled(visit.ctx.pool, account_id)
    rows = await queries.services_of(visit.ctx.pool, account_id)
    return render(
        visit,
        "operator_account.html",
        status,
        account=account,
        total=total,
        services=[queries.public_service(s) for s in rows],
        streams=streams.topics(account_id) if streaming else None,
        error=error,
        notice=notice,
    )
