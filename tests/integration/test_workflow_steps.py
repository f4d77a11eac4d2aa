"""Workflow steps in the decisions and the step timer, fed events directly against the real
database: a step starts once however often what starts it is applied (copies, new ids,
replays), each step is charged or released once at its own price, a step past the limits
fails without starting, and a verified call starts nothing more."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, cast

from psycopg_pool import AsyncConnectionPool

from core.ids import derived_id
from processors.decisions import Decisions
from processors.step_timer import hand_over_due
from runtime.outbox import Publisher
from schemas.codec import Event, new_event
from tests.integration.test_handlers import (
    PRICE,
    RULES,
    T0,
    Published,
    Tenant,
    apply,
    apply_each,
    copy,
    of_type,
    phone,
)

SMS_PRICE = 1500
FLASH_THEN_SMS = [
    {"channel": "flash_call", "timeout_seconds": 20},
    {"channel": "sms", "timeout_seconds": 60},
]


def request(tenant: Tenant, workflow: list[dict[str, Any]]) -> Event:
    return {
        **tenant.request(phone(), T0),
        "workflow": workflow,
        "sms_text": "code 12345",
        "price_per_sms": SMS_PRICE,
    }


def outcome(e: Event, kind: str, step: int, channel: str, **fields: Any) -> Event:
    ids = {"call_id": e["call_id"], "service_id": e["service_id"]}
    if kind == "CallDelivered":
        fields.setdefault("expires_at", T0 + timedelta(minutes=2))
    return new_event(kind, occurred_at=T0, step=step, channel=channel, **ids, **fields)


async def row(pool: AsyncConnectionPool, call_id: Any) -> tuple[Any, ...]:
    async with pool.connection() as conn:
        found = await (
            await conn.execute(
                "SELECT status, step, step_status, price FROM proc_calls WHERE id = %s",
                (call_id,),
            )
        ).fetchone()
    assert found is not None
    return tuple(found)


async def test_a_failed_step_starts_the_next_once_and_each_step_is_charged_at_its_price(
    pool: AsyncConnectionPool,
) -> None:
    decisions = Decisions(RULES)
    tenant = Tenant()
    await apply(pool, decisions, tenant.opening())
    call = request(tenant, FLASH_THEN_SMS)
    [place] = of_type(await apply(pool, decisions, [call]), "PlaceCall")
    assert (place["step"], place["fails_call"]) == (0, False)
    busy = outcome(call, "CallFailed", 0, "flash_call", reason="busy", fails_call=False)
    emitted = await apply(pool, decisions, [busy, copy(busy)])
    emitted += await apply_each(pool, decisions, [busy, copy(busy)])
    [sms] = of_type(emitted, "SendSms")
    assert (sms["step"], sms["phone"], sms["text"], sms["fails_call"]) == (
        1,
        call["phone"],
        "code 12345",
        True,
    )
    [started] = of_type(emitted, "StepStarted")
    assert (started["step"], started["channel"]) == (1, "sms")
    [released] = of_type(emitted, "CreditReleased")
    assert released["amount"] == PRICE
    assert await row(pool, call["call_id"]) == ("admitted", 1, "started", SMS_PRICE)
    delivered = outcome(call, "CallDelivered", 1, "sms")
    charged = await apply(pool, decisions, [delivered, copy(delivered)])
    charged += await apply(pool, decisions, [delivered])
    [debit] = of_type(charged, "CreditDebited")
    assert (debit["amount"], debit["balance_after"]) == (SMS_PRICE, -SMS_PRICE)
    assert debit["event_id"] == str(
        derived_id(derived_id(call["call_id"], "step.1"), "CreditDebited")
    )
    assert await row(pool, call["call_id"]) == ("delivered", 1, "delivered", SMS_PRICE)


async def test_a_delivered_step_past_its_timeout_hands_over_once(
    pool: AsyncConnectionPool,
) -> None:
    """T0 is long past: the flash call's 20 s are over as soon as it is delivered."""
    decisions = Decisions(RULES)
    tenant = Tenant()
    await apply(pool, decisions, tenant.opening())
    call = request(tenant, FLASH_THEN_SMS)
    await apply(pool, decisions, [call])
    rang = await apply(pool, decisions, [outcome(call, "CallDelivered", 0, "flash_call")])
    assert [d["amount"] for d in of_type(rang, "CreditDebited")] == [PRICE]
    published = Published()
    while await hand_over_due(pool, cast(Publisher, published)):
        pass
    assert await hand_over_due(pool, cast(Publisher, published)) == 0
    [timed_out] = [e for e in published.events if e["call_id"] == call["call_id"]]
    assert (timed_out["event_type"], timed_out["step"]) == ("StepTimedOut", 0)
    emitted = await apply(pool, decisions, [timed_out, copy(timed_out)])
    emitted += await apply(pool, decisions, [timed_out])
    # Asked for the next channel of the step already left: nothing more.
    ask = new_event(
        "NextChannelRequested",
        call_id=call["call_id"],
        service_id=tenant.service_id,
        step=0,
    )
    emitted += await apply(pool, decisions, [ask])
    assert [e["step"] for e in of_type(emitted, "SendSms")] == [1]
    assert await row(pool, call["call_id"]) == ("delivered", 1, "started", SMS_PRICE)


async def test_a_step_past_the_credit_limit_fails_without_starting_and_fails_the_call(
    pool: AsyncConnectionPool,
) -> None:
    decisions = Decisions(RULES)
    tenant = Tenant(credit_limit=1200)
    await apply(pool, decisions, tenant.opening())
    call = request(tenant, FLASH_THEN_SMS)
    await apply(pool, decisions, [call])
    busy = outcome(call, "CallFailed", 0, "flash_call", reason="busy", fails_call=False)
    emitted = await apply(pool, decisions, [busy])
    assert of_type(emitted, "SendSms") == []
    [refused] = of_type(emitted, "CallFailed")
    assert (refused["step"], refused["channel"], refused["reason"], refused["fails_call"]) == (
        1,
        "sms",
        "credit_limit_reached",
        True,
    )
    assert refused["event_id"] == str(derived_id(call["call_id"], "outcome.1"))
    assert await row(pool, call["call_id"]) == ("failed", 1, "failed", SMS_PRICE)
    # The refusal comes back from the topic: it changes nothing.
    assert of_type(await apply(pool, decisions, [refused]), "CreditReleased") == []


async def test_a_verified_call_starts_no_further_step(pool: AsyncConnectionPool) -> None:
    decisions = Decisions(RULES)
    tenant = Tenant()
    await apply(pool, decisions, tenant.opening())
    call = request(tenant, FLASH_THEN_SMS)
    await apply(pool, decisions, [call])
    await apply(pool, decisions, [outcome(call, "CallDelivered", 0, "flash_call")])
    code = call["caller_number"][-5:]
    attempt = new_event(
        "VerificationAttempted",
        occurred_at=T0 + timedelta(seconds=5),
        attempt_id=uuid.uuid4(),
        call_id=call["call_id"],
        service_id=tenant.service_id,
        key_id=tenant.key_id,
        code=code,
    )
    assert of_type(await apply(pool, decisions, [attempt]), "CodeVerified")
    published = Published()
    while await hand_over_due(pool, cast(Publisher, published)):
        pass
    assert [e for e in published.events if e["call_id"] == call["call_id"]] == []
    ask = new_event(
        "NextChannelRequested", call_id=call["call_id"], service_id=tenant.service_id, step=0
    )
    assert of_type(await apply(pool, decisions, [ask]), "SendSms") == []


async def test_a_step_to_a_prefix_blocked_since_the_admission_is_refused_as_pumped(
    pool: AsyncConnectionPool,
) -> None:
    decisions = Decisions(RULES)
    tenant = Tenant()
    await apply(pool, decisions, tenant.opening())
    call = request(tenant, FLASH_THEN_SMS)
    await apply(pool, decisions, [call])
    async with pool.connection() as conn:  # the fraud rules block its prefix meanwhile
        await conn.execute(
            "INSERT INTO proc_fraud_prefixes (service_id, prefix, blocked_until)"
            " SELECT service_id, prefix, now() + interval '1 hour' FROM proc_calls"
            " WHERE id = %s",
            (call["call_id"],),
        )
    busy = outcome(call, "CallFailed", 0, "flash_call", reason="busy", fails_call=False)
    emitted = await apply(pool, decisions, [busy])
    assert of_type(emitted, "SendSms") == []
    [refused] = of_type(emitted, "CallFailed")
    assert (refused["step"], refused["reason"]) == (1, "fraud_suspected")
    assert await row(pool, call["call_id"]) == ("failed", 1, "failed", SMS_PRICE)
