"""Operator: what each simulated handset has seen (FLASHCALL_CARRIER=sim) and received by SMS
(FLASHCALL_SMS_CARRIER=sim)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from api.auth import Ctx, Operator
from api.http_params import Cursor, Limit
from api.models import HandsetCall, HandsetMessage, Page
from api.openapi import problems
from front_door import queries
from front_door.call_checks import parse_phone

router = APIRouter(prefix="/v1/sim", tags=["simulated carrier"])


@router.get(
    "/handsets/{phone}/calls",
    response_model=Page[HandsetCall],
    responses=problems("invalid_phone", "unauthorized", "forbidden", "invalid_request"),
)
async def handset_calls(
    phone: str,
    ctx: Ctx,
    _: Operator,
    limit: Limit = 100,
    cursor: Cursor = None,
    call_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    items, next_cursor = await queries.handset_calls(
        ctx.pool, parse_phone(ctx, phone), cursor, limit, call_id
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/handsets/{phone}/messages",
    response_model=Page[HandsetMessage],
    responses=problems("invalid_phone", "unauthorized", "forbidden", "invalid_request"),
)
async def handset_messages(
    phone: str, ctx: Ctx, _: Operator, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    items, next_cursor = await queries.handset_messages(
        ctx.pool, parse_phone(ctx, phone), cursor, limit
    )
    return {"items": items, "next_cursor": next_cursor}
