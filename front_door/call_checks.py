"""What every way in checks of a call before it is placed (`POST /v1/calls`, retries, batches,
streams and the Kafka ingress), and the CallRequested each one appends for a call that passes.

Nothing here writes to the database: the decisions processor takes the event from there.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from core import metrics
from core.caller_ranges import choose
from core.destinations import Destinations
from core.faults import is_transient
from core.networks import network_of
from core.number_pool import NumberPool, caller_prefix
from core.phones import InvalidPhone, normalise
from core.workflow import Channel, as_records, sms_text
from front_door import queries
from front_door.context import Context
from front_door.directory import AccountView, KeyView, ServiceView
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


def parse_phone(ctx: Context, raw: str) -> str:
    try:
        return normalise(raw, ctx.settings.default_region)
    except InvalidPhone as exc:
        raise ApiError("invalid_phone", str(exc)) from exc


async def active_service(ctx: Context, key: KeyView, test: bool = False) -> ServiceView:
    """The key's service, if it may place calls now: known, enabled, and (unless the call is
    to a test number, which costs nothing) not cut off by a credit limit."""
    service = ctx.directory.services.get(key.service_id)
    if service is None:
        raise ApiError("unavailable", "the service is not known to this instance yet")
    if service.status != "active":
        raise ApiError("service_disabled", "the service is disabled")
    if not test:
        await check_credit(ctx, service)
    return service


async def check_credit(ctx: Context, service: ServiceView) -> None:
    """402 credit_limit_reached while the service or its account is cut off."""
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
    code differs from the previous one's), requested when the limits let it through. To a test
    number, the caller number ends with that number's fixed code."""
    previous_code = retry["caller_number"][-retry["code_length"] :] if retry else None
    network = network_of(phone)
    choice = choose(
        ctx.directory.ranges.values() or ctx.settings.seeded_ranges,
        network,
        service.code_length,
        occurred_at or datetime.now(UTC),
        call_id,
        ctx.settings.range_probe_share,
    )
    if choice is None:
        raise ApiError(
            "no_caller_range",
            f"no active caller range with {service.code_length} free digits serves"
            f" {network} numbers",
        )
    if choice.fallback:
        metrics.RANGE_FALLBACKS.labels(network).inc()
    allocation = NumberPool(tuple(r.number_range for r in choice.ranges)).allocate(
        ctx.settings.code_secret, str(call_id), service.code_length, avoid_code=previous_code
    )
    drawn = next(r for r in choice.ranges if r.number_range is allocation.number_range)
    caller = allocation.caller_number
    test_code = ctx.directory.test_code(service.id, phone)
    if test_code is not None:
        caller = caller_prefix(caller, service.code_length) + test_code
    account = ctx.directory.accounts.get(key.account_id)
    price = account.price_per_call if account else ctx.settings.price_per_call
    sms_price = _first(account.price_per_sms if account else None, ctx.settings.price_per_sms)
    has_sms = any(step.channel == Channel.SMS for step in service.workflow)
    code = caller[-service.code_length :]
    return new_event(
        "CallRequested",
        occurred_at=occurred_at,
        call_id=call_id,
        service_id=service.id,
        account_id=key.account_id,
        key_id=key.id,
        phone=phone,
        caller_number=caller,
        code_length=service.code_length,
        code_ttl_minutes=service.code_ttl_minutes,
        attempt=retry["attempt"] + 1 if retry else 1,
        retry_of=retry["id"] if retry else None,
        # A test number's call costs nothing, whatever becomes of it.
        price_per_call=0 if test_code is not None else price,
        reference=reference,
        test=test_code is not None,
        workflow=as_records(service.workflow),
        sms_text=sms_text(service.sms_template, code) if has_sms else None,
        price_per_sms=0 if test_code is not None else sms_price,
        network=network,
        range_id=drawn.id,
        trunk=drawn.trunk,
        probe=choice.probe,
    )


def _first(value: int | None, default: int) -> int:
    return default if value is None else value
