"""Pumping blocks of a service's number prefixes: listing them, lifting one, allow-listing a
prefix (the customer's or the operator's). The decisions apply the lifts (docs/fraud.md)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from api.auth import Caller
from api.service_layer.services import visible
from core.fraud import PREFIX_PATTERN
from front_door import queries
from front_door.context import Context
from front_door.problems import invalid
from schemas.codec import new_event


def checked_prefix(prefix: str) -> str:
    if not re.fullmatch(PREFIX_PATTERN, prefix):
        raise invalid("prefix: a + and digits, as the blocks list shows it (e.g. +989121234)")
    return prefix


async def blocks(ctx: Context, caller: Caller, service_id: uuid.UUID) -> list[dict[str, Any]]:
    """The prefixes blocked now (not lifted, not past their cool-off)."""
    await visible(ctx, caller, service_id)
    return await queries.active_fraud_blocks(ctx.pool, service_id)


async def lift(ctx: Context, caller: Caller, service_id: uuid.UUID, prefix: str) -> None:
    await visible(ctx, caller, service_id)
    event = new_event("FraudBlockLifted", service_id=service_id, prefix=checked_prefix(prefix))
    await ctx.append_and_wait(event)


async def allow(ctx: Context, caller: Caller, service_id: uuid.UUID, prefix: str) -> dict[str, Any]:
    await visible(ctx, caller, service_id)
    event = new_event("FraudPrefixAllowed", service_id=service_id, prefix=checked_prefix(prefix))
    await ctx.append_and_wait(event)
    return {"service_id": service_id, "prefix": prefix, "allowed_at": event["occurred_at"]}
