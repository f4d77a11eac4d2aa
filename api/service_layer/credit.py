"""Credit: top-ups, an account's balances, a service's ledger."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

from api.models import TopUpCreate
from api.service_layer import accounts
from api.service_layer.services import owned
from core.credit import Credit
from core.ids import derived_id
from front_door import queries
from front_door.context import READ_YOUR_WRITES_SECONDS, Context, behind, read_back
from front_door.directory import AccountView
from front_door.idempotency import remembered
from front_door.problems import not_found
from schemas.codec import new_event


async def top_up(
    ctx: Context, service_id: uuid.UUID, body: TopUpCreate, idempotency_key: str | None
) -> tuple[dict[str, Any], bool]:
    """Credit a service (the operator's); answered once the decisions applied it."""
    if await queries.service(ctx.pool, service_id) is None:
        raise not_found("service")

    async def make() -> dict[str, Any]:
        # With an Idempotency-Key the top-up id is fixed by it, so the processor applies it once
        # even if the first answer was lost before it was stored.
        topup_id = (
            derived_id(service_id, "topup", idempotency_key) if idempotency_key else uuid.uuid4()
        )
        reply = await ctx.ask(
            new_event(
                "TopUpCredit",
                topup_id=topup_id,
                service_id=service_id,
                amount=body.amount,
                reference=body.reference,
            ),
            topup_id,
        )
        await ctx.reply_projected(reply)
        done = reply.event
        # A cut-off the top-up lifted travels as events of their own: the balance read next
        # says "active" only once they are projected too.
        settled = await ctx.eventually(
            lambda: _true_or_none(queries.credit_flags_projected(ctx.pool, service_id)),
            READ_YOUR_WRITES_SECONDS,
        )
        if settled is None:
            raise behind()
        return {
            "id": topup_id,
            "service_id": service_id,
            "amount": done["amount"],
            "reference": done["reference"],
            "balance": done["balance_after"],
            "created_at": done["occurred_at"],
        }

    return await remembered(ctx, f"topups:{service_id}", idempotency_key, body, make)


async def _true_or_none(check: Awaitable[bool]) -> bool | None:
    return True if await check else None


async def balance(ctx: Context, account_id: uuid.UUID) -> dict[str, Any]:
    """The account's total beside each service's balance: the total limit binds them all."""
    services = [
        queries.public_service(row) for row in await queries.services_of(ctx.pool, account_id)
    ]
    row = accounts.shown(ctx, read_back(await queries.account(ctx.pool, account_id)))
    total = sum(s["balance"] for s in services)
    return {
        "total": total,
        "total_credit_limit": row["total_credit_limit"],
        "status": "cut_off" if row["cut_off"] else "active",
        "low_balance": Credit(total, 0, row["total_credit_limit"]).low,
        "services": [{**s, "service_id": s["id"]} for s in services],
    }


async def ledger(
    ctx: Context, account: AccountView, service_id: uuid.UUID, limit: int, cursor: str | None
) -> dict[str, Any]:
    await owned(ctx, account, service_id)
    items, next_cursor = await queries.ledger_page(ctx.pool, service_id, cursor, limit)
    return {"items": items, "next_cursor": next_cursor}
