"""apply_batch against the real database: each record applied once, however it is redelivered."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from runtime.batches import Consumed, apply_batch, forget_applied_events
from runtime.outbox import Outbox
from schemas.codec import Event, decode, encode, new_event
from tests.support.consumers import FunctionConsumer


class Recorder:
    """A handler that records what it applied, in the same transaction."""

    def __init__(self, table: str) -> None:
        self.table = table

    handles = frozenset({"DialStarted"})
    deduplicated = frozenset({"DialStarted"})  # a recorder is not idempotent

    async def handle(self, conn: psycopg.AsyncConnection, events: list[Event], _: Outbox) -> None:
        for event in events:
            await conn.execute(
                f"INSERT INTO {self.table} (event_id) VALUES (%s)", (event["event_id"],)
            )


async def recorder(pool: AsyncConnectionPool) -> Recorder:
    table = f"applied_{uuid.uuid4().hex[:8]}"
    async with pool.connection() as conn:
        await conn.execute(f"CREATE TABLE {table} (event_id uuid)")
    return Recorder(table)


async def applied(pool: AsyncConnectionPool, rec: Recorder) -> list[uuid.UUID]:
    async with pool.connection() as conn:
        rows = await (await conn.execute(f"SELECT event_id FROM {rec.table}")).fetchall()
    return [r[0] for r in rows]


def records(topic: str, partition: int, start: int, count: int) -> list[Consumed]:
    return [
        Consumed(
            topic,
            partition,
            start + i,
            encode(new_event("DialStarted", call_id=uuid.uuid4(), service_id=uuid.uuid4())),
        )
        for i in range(count)
    ]


async def test_a_replayed_batch_is_applied_once(pool: AsyncConnectionPool) -> None:
    rec = await recorder(pool)
    consumer, topic = f"c-{uuid.uuid4()}", "t"
    batch = records(topic, 0, 0, 10)
    assert await apply_batch(pool, None, consumer, batch, rec) == 10
    assert await apply_batch(pool, None, consumer, batch, rec) == 0
    # A replay that overlaps the end of what was applied applies only the new part.
    more = records(topic, 0, 10, 5)
    assert await apply_batch(pool, None, consumer, batch[5:] + more, rec) == 5
    assert len(await applied(pool, rec)) == 15


async def test_the_same_event_under_another_offset_is_applied_once(
    pool: AsyncConnectionPool,
) -> None:
    rec = await recorder(pool)
    consumer = f"c-{uuid.uuid4()}"
    [original] = records("t", 1, 0, 1)
    copy = Consumed("t", 1, 7, original.value)
    elsewhere = Consumed("u", 3, 0, original.value)
    assert await apply_batch(pool, None, consumer, [original, copy], rec) == 1
    assert await apply_batch(pool, None, consumer, [elsewhere], rec) == 0
    assert len(await applied(pool, rec)) == 1


async def test_two_workers_on_one_partition_apply_each_record_once(
    pool: AsyncConnectionPool,
) -> None:
    rec = await recorder(pool)
    consumer = f"c-{uuid.uuid4()}"
    batch = records("t", 0, 0, 200)
    results = await asyncio.gather(
        *(apply_batch(pool, None, consumer, batch[i:], rec) for i in (0, 0, 50, 100))
    )
    assert sum(results) == 200
    ids = await applied(pool, rec)
    assert len(ids) == 200 and len(set(ids)) == 200


async def test_a_failing_handler_applies_nothing(pool: AsyncConnectionPool) -> None:
    rec = await recorder(pool)
    consumer = f"c-{uuid.uuid4()}"
    batch = records("t", 0, 0, 3)

    async def flaky(conn: psycopg.AsyncConnection, events: list[Event], out: Outbox) -> None:
        await rec.handle(conn, events[:2], out)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await apply_batch(pool, None, consumer, batch, FunctionConsumer(flaky))
    assert await applied(pool, rec) == []
    assert await apply_batch(pool, None, consumer, batch, rec) == 3


async def test_applied_event_ids_are_forgotten_after_their_retention(
    pool: AsyncConnectionPool,
) -> None:
    rec = await recorder(pool)
    consumer = f"c-{uuid.uuid4()}"
    old, recent = records("t", 0, 0, 1), records("t", 1, 0, 1)
    await apply_batch(pool, None, consumer, old + recent, rec)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE applied_events SET applied_at = now() - interval '200 hours'"
            " WHERE event_id = %s",
            (decode(old[0].value)["event_id"],),
        )
    # A float, as the setting gives it (make_interval(hours => ...) refused one).
    assert await forget_applied_events(pool, older_than_hours=167.5) >= 1
    async with pool.connection() as conn:
        kept = await (
            await conn.execute(
                "SELECT event_id FROM applied_events WHERE consumer = %s", (consumer,)
            )
        ).fetchall()
    assert [row[0] for row in kept] == [decode(recent[0].value)["event_id"]]
    # The offsets still keep the forgotten record from being applied again.
    assert await apply_batch(pool, None, consumer, old, rec) == 0
