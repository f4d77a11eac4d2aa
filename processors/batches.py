"""Exactly-once application of consumed records to PostgreSQL.

Each batch runs in one transaction that also moves the consumer's stored offsets; records
below the stored offset were applied before (faust replays on every rebalance) and are skipped,
and so are events whose id the consumer has applied before under another offset.
The offset rows are locked first, in partition order, so two workers that briefly own the same
partition during a rebalance apply each record once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import psycopg
from confluent_kafka import Message
from psycopg_pool import AsyncConnectionPool

from processors.outbox import Outbox
from producers.event_producer import EventProducer
from schemas.codec import Event, UnknownSchema, decode

log = logging.getLogger(__name__)

# Applies, in the caller's transaction, the events of a batch seen for the first time (in order).
Handler = Callable[[psycopg.AsyncConnection, list[Event], Outbox], Awaitable[None]]


@dataclass(frozen=True)
class Consumed:
    topic: str
    partition: int
    offset: int
    value: bytes

    @classmethod
    def of(cls, msg: Message) -> Consumed:
        """From a confluent-kafka message (one without an error)."""
        topic, partition, offset, value = msg.topic(), msg.partition(), msg.offset(), msg.value()
        assert topic is not None and partition is not None and offset is not None
        assert isinstance(value, bytes)
        return cls(topic, partition, offset, value)


class RetryLater(Exception):
    """The batch depends on an event of another topic that has not been applied yet."""


TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure, RetryLater)


async def apply_batch(
    pool: AsyncConnectionPool,
    producer: EventProducer | None,
    consumer: str,
    records: Sequence[Consumed],
    handler: Handler,
    patience: float = 30.0,
) -> int:
    """Apply the unseen records of a batch with `handler`; returns how many were applied.

    A deadlock between agents of one consumer, or a handler that must wait for another topic
    (RetryLater), rolls the batch back and runs it again, for up to `patience` seconds. Any
    other error propagates (and stops the worker).
    """
    deadline = time.monotonic() + patience
    delay = 0.01
    while True:
        try:
            return await _apply(pool, producer, consumer, records, handler)
        except TRANSIENT as exc:
            if time.monotonic() > deadline:
                raise
            log.info("%s: %r; running the batch again", consumer, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)


async def _apply(
    pool: AsyncConnectionPool,
    producer: EventProducer | None,
    consumer: str,
    records: Sequence[Consumed],
    handler: Handler,
) -> int:
    if not records:
        return 0
    outbox = Outbox()
    # Pipeline mode: statements whose results are not read go out without a round trip each.
    async with pool.connection() as conn, conn.transaction(), conn.pipeline():
        next_offsets = await _lock_offsets(conn, consumer, records)
        fresh: list[tuple[Consumed, Event]] = []
        for record in records:
            key = (record.topic, record.partition)
            if record.offset < next_offsets[key]:
                continue
            next_offsets[key] = record.offset + 1
            try:
                fresh.append((record, decode(record.value)))
            except UnknownSchema:
                # A newer producer's event type: not ours to decide on, and never retried.
                log.warning("skipping %s[%d]@%d: unknown schema", *key, record.offset)
        events = [event for _, event in await _first_sightings(conn, consumer, fresh)]
        if events:
            await handler(conn, events, outbox)
        applied = len(events)
        await conn.execute(
            "UPDATE consumed_offsets o SET next_offset = n.next_offset"
            " FROM unnest(%s::text[], %s::int[], %s::bigint[]) AS n(topic, partition, next_offset)"
            " WHERE o.consumer = %s AND o.topic = n.topic AND o.partition = n.partition",
            (
                [t for t, _ in next_offsets],
                [p for _, p in next_offsets],
                list(next_offsets.values()),
                consumer,
            ),
        )
        await outbox.write(conn)
    if outbox.ids:
        assert producer is not None, f"{consumer} emitted events but has no producer"
        await outbox.publish(pool, producer)
    return applied


async def _lock_offsets(
    conn: psycopg.AsyncConnection, consumer: str, records: Sequence[Consumed]
) -> dict[tuple[str, int], int]:
    """Lock this consumer's offset row of every partition in the batch (creating missing ones,
    in one sorted statement) and return the next offset to apply for each."""
    keys = sorted({(r.topic, r.partition) for r in records})
    rows = await (
        await conn.execute(
            "INSERT INTO consumed_offsets (consumer, topic, partition, next_offset)"
            " SELECT %s, k.topic, k.partition, 0"
            " FROM unnest(%s::text[], %s::int[]) AS k(topic, partition)"
            " ORDER BY k.topic, k.partition"
            " ON CONFLICT (consumer, topic, partition)"
            " DO UPDATE SET next_offset = consumed_offsets.next_offset"
            " RETURNING topic, partition, next_offset",
            (consumer, [t for t, _ in keys], [p for _, p in keys]),
        )
    ).fetchall()
    return {(str(t), int(p)): int(o) for t, p, o in rows}


async def _first_sightings(
    conn: psycopg.AsyncConnection, consumer: str, fresh: list[tuple[Consumed, Event]]
) -> list[tuple[Consumed, Event]]:
    """The records whose event id this consumer has never applied (marking them applied)."""
    if not fresh:
        return []
    ids = [event["event_id"] for _, event in fresh]
    rows = await (
        await conn.execute(
            "INSERT INTO applied_events (consumer, event_id)"
            " SELECT %s, unnest(%s::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id",
            (consumer, ids),
        )
    ).fetchall()
    new_ids = {row[0] for row in rows}
    first: list[tuple[Consumed, Event]] = []
    for record, event in fresh:
        if event["event_id"] in new_ids:
            new_ids.discard(event["event_id"])  # a duplicate within the batch counts once
            first.append((record, event))
    return first


async def forget_applied_events(pool: AsyncConnectionPool, older_than_hours: float) -> int:
    """Prune the applied event ids past their retention, a bounded slice at a time."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM applied_events WHERE ctid IN (SELECT ctid FROM applied_events"
            # make_interval's hours are integers; seconds take the fractional setting.
            " WHERE applied_at < now() - make_interval(secs => %s) LIMIT 10000)",
            (older_than_hours * 3600,),
        )
        return cur.rowcount
