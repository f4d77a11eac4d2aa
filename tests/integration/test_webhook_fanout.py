"""Webhooks per change of a call, not per published record (processors/webhooks.py): however
the call's records were batched, coalesced or replayed, each change it went through is one
delivery per endpoint, and they go out in the order the call went through them; a retry goes
out when it comes due."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from core.webhooks import new_secret
from processors import webhooks
from processors.webhooks import SenderRules, WebhookFanout, WebhookSender
from runtime.outbox import Outbox
from tests.support.waiting import until
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.integration

EVENTS = ["call.delivered", "call.verified", "call.expired", "call.failed"]


async def endpoint(
    pool: AsyncConnectionPool, url: str = "http://127.0.0.1:9/hooks"
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """An account with a service and an endpoint subscribed to EVENTS."""
    account, service, endpoint_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO services (id, account_id, name, code_length, code_ttl_minutes,"
            " return_code, status, credit_limit, created_at, updated_at)"
            " VALUES (%s, %s, 'login', 5, 2, false, 'active', 0, %s, %s)",
            (service, account, now, now),
        )
        await conn.execute(
            "INSERT INTO webhook_endpoints (id, account_id, url, events, status, secret)"
            " VALUES (%s, %s, %s, %s, 'enabled', %s)",
            (endpoint_id, account, url, EVENTS, new_secret()),
        )
    return account, service, endpoint_id


def reported(account: uuid.UUID, service: uuid.UUID, call: uuid.UUID, status: str) -> Any:
    """The call's record as the report topic carries it (its latest state)."""
    return {
        "event_type": "CallReported",
        "event_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC),
        "call_id": call,
        "account_id": account,
        "service_id": service,
        "status": status,
        "code_length": 5,
        "caller_number": "+982191012345",
    }


async def deliveries(pool: AsyncConnectionPool, endpoint_id: uuid.UUID) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT event_type, payload -> 'data' ->> 'status', subject, seq"
                " FROM webhook_deliveries WHERE endpoint_id = %s ORDER BY seq, event_type",
                (endpoint_id,),
            )
        ).fetchall()
    return [tuple(r) for r in rows]


async def apply(pool: AsyncConnectionPool, fanout: WebhookFanout, events: list[Any]) -> None:
    async with pool.connection() as conn, conn.transaction():
        await fanout.handle(conn, events, Outbox())


async def test_a_call_delivered_and_verified_in_one_batch_gets_both_webhooks_once(
    pool: AsyncConnectionPool,
) -> None:
    account, service, endpoint_id = await endpoint(pool)
    fanout = WebhookFanout(lambda: None)
    call = uuid.uuid4()
    # The projection applied the ring and the verification in one batch: one record, verified.
    await apply(pool, fanout, [reported(account, service, call, "verified")])
    expected = [
        ("call.delivered", "verified", str(call), 1),
        ("call.verified", "verified", str(call), 2),
    ]
    assert await deliveries(pool, endpoint_id) == expected
    # Replayed, redelivered, or the delivered record arriving late: nothing more.
    await apply(pool, fanout, [reported(account, service, call, "verified")])
    await apply(pool, fanout, [reported(account, service, call, "delivered")])
    assert await deliveries(pool, endpoint_id) == expected


async def test_each_outcome_is_the_changes_it_took(pool: AsyncConnectionPool) -> None:
    account, service, endpoint_id = await endpoint(pool)
    fanout = WebhookFanout(lambda: None)
    calls = {status: uuid.uuid4() for status in ("delivered", "expired", "failed", "queued")}
    await apply(pool, fanout, [reported(account, service, c, s) for s, c in calls.items()])
    kinds: dict[str, list[str]] = {}
    for kind, _, subject, _ in await deliveries(pool, endpoint_id):
        kinds.setdefault(subject, []).append(kind)
    assert kinds == {
        str(calls["delivered"]): ["call.delivered"],
        str(calls["expired"]): ["call.delivered", "call.expired"],
        str(calls["failed"]): ["call.failed"],
    }


async def test_a_calls_later_webhook_waits_until_the_earlier_one_is_done(
    pool: AsyncConnectionPool, quiet_database_url: str
) -> None:
    account, service, endpoint_id = await endpoint(pool)
    await apply(
        pool, WebhookFanout(lambda: None), [reported(account, service, uuid.uuid4(), "verified")]
    )
    rules = SenderRules(True, 0.2, timedelta(hours=1), timedelta(hours=72), 1.0)
    sender = WebhookSender(pool, quiet_database_url, rules)

    async def claimable() -> list[str]:
        claimed = [d for d in await sender._claim() if d["endpoint_id"] == endpoint_id]
        async with pool.connection() as conn:  # the lease given back: claimable again
            await conn.execute(
                "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE endpoint_id = %s",
                (endpoint_id,),
            )
        return [d["event_type"] for d in claimed]

    assert await claimable() == ["call.delivered"]
    async with pool.connection() as conn:  # delivered (or given up): the next may go
        await conn.execute(
            "UPDATE webhook_deliveries SET status = 'delivered'"
            " WHERE endpoint_id = %s AND event_type = 'call.delivered'",
            (endpoint_id,),
        )
    assert await claimable() == ["call.verified"]


async def test_a_retry_goes_out_when_it_comes_due_not_at_the_next_idle_look(
    pool: AsyncConnectionPool, quiet_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing else wakes this sender: before, it looked again only after its idle wait.
    monkeypatch.setattr(webhooks, "IDLE_WAIT", 60.0)
    receiver = Receiver(failures=1)
    account, service, endpoint_id = await endpoint(pool, receiver.url)
    await apply(
        pool, WebhookFanout(lambda: None), [reported(account, service, uuid.uuid4(), "delivered")]
    )
    # The first retry comes 0.8–1.2 × the base after the first attempt.
    rules = SenderRules(True, 1.0, timedelta(hours=1), timedelta(hours=72), 5.0)
    sender = WebhookSender(pool, quiet_database_url, rules)
    sending = asyncio.create_task(sender.run())
    try:
        await until(lambda: len(receiver.of("call.delivered")) == 2, within=20.0, what="the retry")
        deadline = asyncio.get_running_loop().time() + 10.0
        while True:  # the 204 recorded
            async with pool.connection() as conn:
                row = await (
                    await conn.execute(
                        "SELECT status, attempts, delivered_at - created_at"
                        " FROM webhook_deliveries WHERE endpoint_id = %s",
                        (endpoint_id,),
                    )
                ).fetchone()
            if row is None or row[0] != "pending" or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.02)
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        receiver.close()
    (first_headers, _), (second_headers, _) = receiver.of("call.delivered")
    assert first_headers["webhook-id"] == second_headers["webhook-id"]
    assert row is not None and (row[0], row[1]) == ("delivered", 2)
    assert row[2] >= timedelta(seconds=0.8)  # not sooner than its moment
