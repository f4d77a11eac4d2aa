"""Credit: operator top-ups, an account's balances and each service's ledger."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api import queries
from api.auth import Account, Ctx, Operator
from api.errors import not_found
from api.idempotency import IdempotencyKey, once
from api.models import BalanceOut, LedgerEntry, Page, TopUpCreate, TopUpOut
from api.openapi import problems
from api.paging import Cursor, Limit
from api.routers.services import owned_service
from core.ids import derived_id
from schemas.codec import new_event

router = APIRouter(tags=["credit"])


@router.post(
    "/v1/services/{service_id}/topups",
    status_code=201,
    response_model=TopUpOut,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def top_up(
    service_id: uuid.UUID,
    body: TopUpCreate,
    ctx: Ctx,
    _: Operator,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    if await queries.service(ctx.pool, service_id) is None:
        raise not_found("service")

    async def make() -> dict[str, Any]:
        # With an Idempotency-Key the top-up id is fixed by it, so the processor applies it once
        # even if the first answer was lost before it was stored.
        topup_id = (
            derived_id(service_id, "topup", idempotency_key) if idempotency_key else uuid.uuid4()
        )
        done = await ctx.ask(
            new_event(
                "TopUpCredit",
                topup_id=topup_id,
                service_id=service_id,
                amount=body.amount,
                reference=body.reference,
            ),
            topup_id,
        )
        return {
            "id": topup_id,
            "service_id": service_id,
            "amount": done["amount"],
            "reference": done["reference"],
            "balance": done["balance_after"],
            "created_at": done["occurred_at"],
        }

    return await once(ctx, f"topups:{service_id}", idempotency_key, body, make)


@router.get(
    "/v1/balance", response_model=BalanceOut, responses=problems("unauthorized", "forbidden")
)
async def balance(ctx: Ctx, account: Account) -> dict[str, Any]:
    rows = await queries.fetch_all(
        ctx.pool,
        f"SELECT * FROM {queries.SERVICES} WHERE account_id = %s ORDER BY created_at, id",
        (account.id,),
    )
    services = [queries.public_service(row) for row in rows]
    return {
        "total": sum(s["balance"] for s in services),
        "services": [{**s, "service_id": s["id"]} for s in services],
    }


@router.get(
    "/v1/services/{service_id}/ledger",
    response_model=Page[LedgerEntry],
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def ledger(
    service_id: uuid.UUID, ctx: Ctx, account: Account, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    await owned_service(ctx, account, service_id)
    items, next_cursor = await queries.fetch_page(
        ctx.pool,
        "SELECT id, type, amount, balance_after, call_id, reference, created_at FROM ledger"
        " WHERE service_id = %s",
        [service_id],
        cursor,
        limit,
    )
    return {"items": items, "next_cursor": next_cursor}
