"""Placing one call (`POST /v1/calls` and a retry): the checks (front_door/call_checks.py),
the limits, then one appended CallRequested; and a call as the access-key endpoints show it.

Nothing here writes to the database (the limits' takes excepted): the 201 means the event is
durable in the broker.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.call_rules import CallStatus
from core.ids import derived_id
from core.number_pool import caller_prefix, code_of
from core.workflow import Channel
from front_door.call_checks import active_service, check_destination, request_event
from front_door.context import Context
from front_door.directory import KeyView, ServiceView
from front_door.idempotency import check_key
from front_door.limits import retry_after
from front_door.problems import ApiError
from projections import call_steps
from schemas.codec import Event


@dataclass(frozen=True)
class Placed:
    event: Event
    service: ServiceView


def idempotent_call_id(key: KeyView, idempotency_key: str | None) -> uuid.UUID:
    if idempotency_key is None:
        return uuid.uuid4()
    check_key(idempotency_key)
    return derived_id(key.id, "call", idempotency_key)


async def place_call(
    ctx: Context,
    key: KeyView,
    phone: str,
    call_id: uuid.UUID,
    retry: dict[str, Any] | None = None,
    reference: str | None = None,
) -> Placed:
    """Check the limits, draw the caller number and append CallRequested. A test number's
    call rings no one and costs nothing: no limit counts it, no destination rule applies."""
    test = ctx.directory.test_code(key.service_id, phone) is not None
    service = await active_service(ctx, key, test)
    if test:
        event = request_event(ctx, key, service, phone, call_id, retry, reference)
        await ctx.append(event)
        return Placed(event, service)
    check_destination(ctx, service, phone)
    takes = await ctx.limits.take_calls(key.id, service.id, [(phone, call_id)])
    if not takes.granted:
        raise ApiError(
            "rate_limited", "too many calls for this access key", retry_after(takes.key_wait)
        )
    if takes.phone_waits[0]:
        raise ApiError(
            "rate_limited",
            "too many calls to this phone number",
            retry_after(takes.phone_waits[0]),
        )
    event = request_event(
        ctx, key, service, phone, call_id, retry, reference, occurred_at=takes.decided_at
    )
    try:
        await ctx.append(event)
    except Exception:
        await ctx.limits.give_back_calls([call_id])
        raise
    return Placed(event, service)


def call_body(row: dict[str, Any], service: ServiceView | None) -> dict[str, Any]:
    """A call as the access-key endpoints show it: no code unless the service returns codes."""
    body = {
        "id": row["id"],
        "service_id": row["service_id"],
        "key_id": row["key_id"],
        "phone": row["phone"],
        "status": row["status"],
        "failure_reason": row.get("failure_reason"),
        "attempt": row["attempt"],
        "retry_of": row.get("retry_of"),
        "code_length": row["code_length"],
        "expires_at": row.get("expires_at"),
        "created_at": row["created_at"],
        "dialed_at": row.get("dialed_at"),
        "verified_at": row.get("verified_at"),
        "cost": row.get("cost", 0),
        "reference": row.get("reference"),
        "test": bool(row.get("test")),
        "network": row.get("network"),
    }
    body["steps"] = call_steps.listed(row.get("steps"))
    body["channel"] = row.get("channel") or (
        body["steps"][-1]["channel"] if body["steps"] else Channel.FLASH_CALL.value
    )
    caller = row.get("caller_number")
    body["caller_prefix"] = caller_prefix(caller, row["code_length"]) if caller else None
    if caller and service is not None and service.return_code:
        body["code"] = code_of(caller, row["code_length"])
        body["head_number"] = body["caller_prefix"]
    return body


def placed_body(placed: Placed) -> dict[str, Any]:
    e = placed.event
    first = call_steps.step_keys(e)
    return call_body(
        {
            **e,
            "id": e["call_id"],
            "status": CallStatus.QUEUED,
            "created_at": e["occurred_at"],
            "steps": first[1] if first else None,
        },
        placed.service,
    )


def seconds_until(moment: datetime) -> float:
    return (moment - datetime.now(UTC)).total_seconds()
