"""Placing a call: the checks the API answers synchronously, then one appended CallRequested.

Nothing here touches the database (an Idempotency-Key replay excepted): the 201 means the
event is durable in the broker, and the decisions processor takes it from there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.call_rules import CallStatus
from core.destinations import Destinations
from core.faults import is_transient
from core.ids import derived_id
from core.phones import InvalidPhone, normalise
from front_door import queries
from front_door.context import Context
from front_door.directory import AccountView, KeyView, ServiceView
from front_door.idempotency import check_key
from front_door.limits import retry_after
from front_door.problems import ApiError
from schemas.codec import Event, new_event

# What an endpoint that places a call can answer besides its own errors (OpenAPI).
PLACING_PROBLEMS = (
    "invalid_phone",
    "unauthorized",
    "credit_limit_reached",
    "service_disabled",
    "destination_not_allowed",
    "invalid_request",
    "rate_limited",
)


@dataclass(frozen=True)
class Placed:
    event: Event
    service: ServiceView


def parse_phone(ctx: Context, raw: str) -> str:
    try:
        return normalise(raw, ctx.settings.default_region)
    except InvalidPhone as exc:
        raise ApiError("invalid_phone", str(exc)) from exc


async def active_service(ctx: Context, key: KeyView) -> ServiceView:
    service = ctx.directory.services.get(key.service_id)
    if service is None:
        raise ApiError("unavailable", "the service is not known to this instance yet")
    if service.status != "active":
        raise ApiError("service_disabled", "the service is disabled")
    account = ctx.directory.accounts.get(service.account_id)
    if service.cut_off or (account is not None and account.cut_off):
        limit = await _cut_off_by(ctx, service, account)
        if limit == "service":
            raise ApiError(
                "credit_limit_reached",
                "the service has reached its credit limit; top it up",
                extra={"limit": "service"},
            )
        if limit == "account":
            raise ApiError(
                "credit_limit_reached",
                "the account has reached its total credit limit; top up any of its services",
                extra={"limit": "account"},
            )
    return service


async def _cut_off_by(
    ctx: Context, service: ServiceView, account: AccountView | None
) -> str | None:
    """Which limit stops the service's calls, as the decisions hold it now: the directory's
    flags come from the broker a moment after a top-up another replica answered, and a call
    refused on them would be refused after that top-up's 201. Asked only when the directory
    says cut off; while PostgreSQL is away, the directory's word stands."""
    try:
        held = await queries.credit_cut_off(ctx.pool, service.id)
    except Exception as exc:
        if not is_transient(exc):
            raise
        held = (service.cut_off, account is not None and account.cut_off)
    if held is None:  # not decided on yet: nothing to stop it
        return None
    service_cut_off, account_cut_off = held
    return "service" if service_cut_off else "account" if account_cut_off else None


def check_destination(ctx: Context, service: ServiceView, phone: str) -> None:
    """403 destination_not_allowed for a number the service may not ring (docs/fraud.md)."""
    rule = Destinations.of(
        service.allowed_regions, service.blocked_number_types, ctx.settings.default_region
    )
    reason = rule.refusal(phone)
    if reason is not None:
        raise ApiError("destination_not_allowed", reason)


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
    """Check the limits, draw the caller number and append CallRequested."""
    service = await active_service(ctx, key)
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


def request_event(
    ctx: Context,
    key: KeyView,
    service: ServiceView,
    phone: str,
    call_id: uuid.UUID,
    retry: dict[str, Any] | None = None,
    reference: str | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """The CallRequested of a call that passed the checks: its caller number drawn (a retry's
    code differs from the previous one's), requested when the limits let it through."""
    previous_code = retry["caller_number"][-retry["code_length"] :] if retry else None
    allocation = ctx.settings.pool.allocate(
        ctx.settings.code_secret, str(call_id), service.code_length, avoid_code=previous_code
    )
    account = ctx.directory.accounts.get(key.account_id)
    return new_event(
        "CallRequested",
        occurred_at=occurred_at,
        call_id=call_id,
        service_id=service.id,
        account_id=key.account_id,
        key_id=key.id,
        phone=phone,
        caller_number=allocation.caller_number,
        code_length=service.code_length,
        code_ttl_minutes=service.code_ttl_minutes,
        attempt=retry["attempt"] + 1 if retry else 1,
        retry_of=retry["id"] if retry else None,
        price_per_call=account.price_per_call if account else ctx.settings.price_per_call,
        reference=reference,
    )


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
    }
    if service is not None and service.return_code:
        caller = row["caller_number"]
        body["code"] = caller[-row["code_length"] :]
        body["head_number"] = caller[: -row["code_length"]]
    return body


def placed_body(placed: Placed) -> dict[str, Any]:
    e = placed.event
    return call_body(
        {**e, "id": e["call_id"], "status": CallStatus.QUEUED, "created_at": e["occurred_at"]},
        placed.service,
    )


def seconds_until(moment: datetime) -> float:
    return (moment - datetime.now(UTC)).total_seconds()
