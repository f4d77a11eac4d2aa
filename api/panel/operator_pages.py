"""The operator console: accounts, their prices and limits, their services' limits, top-ups."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from api import queries, streams
from api.auth import Caller
from api.errors import not_found
from api.models import AccountPatch, ServicePatch, TopUpCreate
from api.panel.forms import FormError, parse
from api.panel.web import PREFIX, OperatorVisit, Visit, checked_form, once_key, render
from api.routers import accounts as accounts_api
from api.routers import credit as credit_api
from api.routers import services as services_api

router = APIRouter(prefix=f"{PREFIX}/operator", include_in_schema=False)

ACCOUNTS = (
    "SELECT a.id, a.name, a.price_per_call, a.credit_limit, a.created_at, u.email,"
    " count(s.id) AS services, coalesce(sum(c.balance), 0) AS balance"
    " FROM accounts a LEFT JOIN panel_users u ON u.account_id = a.id"
    " LEFT JOIN services s ON s.account_id = a.id"
    " LEFT JOIN service_credit c ON c.service_id = s.id"
    " GROUP BY a.id, u.email ORDER BY a.created_at DESC LIMIT 500"
)


@router.get("")
async def accounts_page(visit: OperatorVisit) -> Response:
    accounts = await queries.fetch_all(visit.ctx.pool, ACCOUNTS, ())
    return render(visit, "operator.html", accounts=accounts)


@router.get("/accounts/{account_id}")
async def account_page(account_id: uuid.UUID, visit: OperatorVisit) -> Response:
    return await _account(visit, account_id)


@router.post("/accounts/{account_id}")
async def edit_account(account_id: uuid.UUID, visit: OperatorVisit) -> Response:
    form = await checked_form(visit)
    fields = {"name": "text", "price_per_call": "int", "credit_limit": "int"}
    try:
        body = parse(AccountPatch, form, fields, visit.words)
    except FormError as exc:
        return await _account(visit, account_id, 422, error=exc.message)
    await accounts_api.patch_account(account_id, body, visit.ctx, None)
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
    await services_api.patch_service(service_id, body, visit.ctx, Caller(True, None))
    return await _account(visit, service["account_id"], notice=visit.words.t("service.saved"))


@router.post("/services/{service_id}/topups")
async def top_up(service_id: uuid.UUID, visit: OperatorVisit) -> Response:
    form = await checked_form(visit)
    service = await _service(visit, service_id)
    try:
        body = parse(TopUpCreate, form, {"amount": "int", "reference": "text"}, visit.words)
    except FormError as exc:
        return await _account(visit, service["account_id"], 422, error=exc.message)
    await credit_api.top_up(service_id, body, visit.ctx, None, once_key(form))
    notice = visit.words.t("operator.topped_up")
    return await _account(visit, service["account_id"], notice=notice)


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
    account = await queries.account(visit.ctx.pool, account_id)
    if account is None:
        raise not_found("account")
    streaming = await queries.fetch_one(
        visit.ctx.pool, "SELECT streams_enabled FROM accounts WHERE id = %s", (account_id,)
    )
    services = await queries.fetch_all(
        visit.ctx.pool,
        f"SELECT * FROM {queries.SERVICES} WHERE account_id = %s ORDER BY created_at",
        (account_id,),
    )
    return render(
        visit,
        "operator_account.html",
        status,
        account=account,
        services=[queries.public_service(s) for s in services],
        streams=streams.topics(account_id) if streaming and streaming["streams_enabled"] else None,
        error=error,
        notice=notice,
    )
