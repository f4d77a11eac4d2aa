"""Credit: operator top-ups, an account's balances and each service's ledger (the service
layer: api/service_layer/credit.py)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.auth import Account, Ctx, Operator
from api.http_params import Cursor, IdempotencyKey, Limit, created
from api.models import BalanceOut, LedgerEntry, Page, TopUpCreate, TopUpOut
from api.openapi import problems
from api.service_layer import credit

router = APIRouter(tags=["credit"])


@router.post(
    "/v1/services/{service_id}/topups",
    status_code=201,
    response_model=TopUpOut,
    responses=problems(
        "unauthorized", "forbidden", "not_found", "invalid_request", "idempotency_key_in_use"
    ),
)
async def top_up(
    service_id: uuid.UUID,
    body: TopUpCreate,
    ctx: Ctx,
    _: Operator,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return created(*await credit.top_up(ctx, service_id, body, idempotency_key))


@router.get(
    "/v1/balance", response_model=BalanceOut, responses=problems("unauthorized", "forbidden")
)
async def balance(ctx: Ctx, account: Account) -> dict[str, Any]:
    return await credit.balance(ctx, account.id)


@router.get(
    "/v1/services/{service_id}/ledger",
    response_model=Page[LedgerEntry],
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def ledger(
    service_id: uuid.UUID, ctx: Ctx, account: Account, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    return await credit.ledger(ctx, account, service_id, limit, cursor)
