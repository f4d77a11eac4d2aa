"""Pumping blocks of a service's number prefixes: listing them, lifting one, allow-listing a
prefix (the customer's or the operator's). The decisions apply the lifts (docs/fraud.md)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from api import queries
from api.auth import Caller
from api.context import Context
from api.errors import invalid, not_found
from api.service_layer.services import owned
from schemas.codec import new_event

PREFIX = re.compile(r"^\+[1-9][0-9]{1,14}$")


async def _service(ctx: Context, caller: Caller, service_id: uuid.UUID) -> dict[str, Any]:
    if caller.account is not None:
        return await owned(ctx, caller.account, service_id)
    row = await queries.service(ctx.pool, service_id)
    if row is None:
        raise not_found("service")
    return row


def checked_prefix(prefix: str) -> str:
    if not PREFIX.match(prefix):
        raise invalid("prefix: a + and digits, as the blocks list shows it (e.g. +989121234)")
    return prefix


async def blocks(ctx: Context, caller: Caller, service_id: uuid.UUID) -> list[dict[str, Any]]:
    """The prefixes blocked now (not lifted, not past their cool-off)."""
    await _service(ctx, caller, service_id)
    return await queries.active_fraud_blocks(ctx.pool, service_id)


async def lift(ctx: Context, caller: Caller, service_id: uuid.UUID, prefix: str) -> None:
    await _service(ctx, caller, service_id)
    event = new_event("FraudBlockLifted", service_id=service_id, prefix=checked_prefix(prefix))
    await ctx.append_and_wait(event)


async def allow(ctx: Context, caller: Caller, service_id: uuid.UUID, prefix: str) -> dict[str, Any]:
    await _service(ctx, caller, service_id)
    event = new_event("FraudPrefixAllowed", service_id=service_id, prefix=checked_prefix(prefix))
    await ctx.append_and_wait(event)
    return {"service_id": service_id, "prefix": prefix, "allowed_at": event["occurred_at"]}
